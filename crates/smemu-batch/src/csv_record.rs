//! csv_record: one CSV line as a list of columns (RFC 4180 quoting) and back.
//!
//! For `text/csv`, "each row is taken as a JSON array" and "CSV data should also follow
//! RFC format"; "For CSV files, you cannot use embedded newline characters"
//! (<https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html>).
//! A small parser instead of the `csv` crate: one line at a time, no headers, and the
//! exact quoting rules below are all that is needed.
//!
//! Reading: fields split on `,`; a field that starts with `"` is quoted, `""` inside it is
//! one `"`, and only `,` or the end may follow its closing quote. A `"` inside an unquoted
//! field is kept as data (common in the wild, e.g. `5"`). Spaces are data. An empty line
//! is one empty column.
//! Writing quotes a field only when it must: it holds `,`, `"`, `\r` or `\n`.

/// Splits one CSV line (without its line terminator) into columns.
pub fn parse_csv_line(line: &[u8]) -> Result<Vec<String>, String> {
    let text = std::str::from_utf8(line).map_err(|e| format!("CSV line is not UTF-8: {e}"))?;
    let mut fields = Vec::new();
    let mut chars = text.char_indices().peekable();
    loop {
        let mut field = String::new();
        if let Some(&(start, '"')) = chars.peek() {
            chars.next();
            loop {
                match chars.next() {
                    Some((_, '"')) => {
                        if let Some(&(_, '"')) = chars.peek() {
                            chars.next();
                            field.push('"');
                        } else {
                            break;
                        }
                    }
                    Some((_, c)) => field.push(c),
                    None => {
                        return Err(format!(
                            "unterminated quoted field starting at byte {start} \
                             (CSV records cannot span lines in batch transform)"
                        ));
                    }
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some((_, ',')) => fields.push(field),
                Some((at, c)) => return Err(format!("unexpected '{c}' after a closing quote at byte {at}")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some((_, ',')) => {
                        fields.push(field);
                        break;
                    }
                    Some((_, c)) => field.push(c),
                }
            }
        }
    }
}

/// Appends `fields` as one CSV line (no terminator) with minimal quoting.
pub fn write_csv_line<S: AsRef<str>>(fields: &[S], out: &mut Vec<u8>) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let f = f.as_ref();
        if f.contains([',', '"', '\r', '\n']) {
            out.push(b'"');
            out.extend_from_slice(f.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        } else {
            out.extend_from_slice(f.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Vec<String> {
        parse_csv_line(s.as_bytes()).unwrap()
    }

    fn write(f: &[&str]) -> String {
        let mut out = Vec::new();
        write_csv_line(f, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn plain_fields_and_empty_columns() {
        assert_eq!(parse("a,b,c"), ["a", "b", "c"]);
        assert_eq!(parse("1,,3,"), ["1", "", "3", ""]);
        assert_eq!(parse(""), [""]);
        assert_eq!(parse(" a , b"), [" a ", " b"], "spaces are data");
        assert_eq!(parse("5\" wide,x"), ["5\" wide", "x"], "a quote inside an unquoted field is data");
    }

    #[test]
    fn quoted_fields() {
        assert_eq!(parse(r#""a,b","say ""hi""",c"#), ["a,b", "say \"hi\"", "c"]);
        assert_eq!(parse(r#""","x""#), ["", "x"]);
        assert_eq!(parse("\"multi\nline\",z"), ["multi\nline", "z"]);
        assert_eq!(parse("\"é,ü\""), ["é,ü"]);
    }

    #[test]
    fn malformed_quoting_is_an_error() {
        assert!(parse_csv_line(b"\"open,x").unwrap_err().contains("unterminated"));
        assert!(parse_csv_line(b"\"a\"b,c").unwrap_err().contains("after a closing quote"));
        assert!(parse_csv_line(&[b'a', 0xff]).unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn writes_with_minimal_quoting() {
        assert_eq!(write(&["a", "b c", ""]), "a,b c,");
        assert_eq!(write(&["a,b", "say \"hi\"", "x\ny", "cr\r"]), "\"a,b\",\"say \"\"hi\"\"\",\"x\ny\",\"cr\r\"");
    }

    #[test]
    fn quoting_round_trips() {
        let cases: &[&[&str]] =
            &[&["id-1", "3.5", "a,b", "\"quoted\"", "", "tail"], &["", ""], &["only"], &["\"", ",", "\"\""]];
        for fields in cases {
            let line = write(fields);
            assert_eq!(parse(&line), *fields, "line {line:?}");
        }
        // And a parsed line writes back to the same text when it was minimally quoted.
        let line = r#"1,"x,y","he said ""no""",plain"#;
        let fields = parse(line);
        assert_eq!(write(&fields.iter().map(String::as_str).collect::<Vec<_>>()), line);
    }
}
