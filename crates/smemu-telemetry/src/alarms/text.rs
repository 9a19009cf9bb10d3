//! How CloudWatch writes numbers and times in alarm texts: doubles as Java prints them (`5.0`,
//! `596.3636363636364`, `1.0E7`), `dd/MM/yy HH:mm:ss` in state reasons and
//! `yyyy-MM-ddTHH:mm:ss.SSS+0000` in the reason data and history JSON (both UTC).

/// A double as Java's `Double.toString` prints it, which is how the service's texts show
/// values and thresholds.
pub fn java_double(value: f64) -> String {
    if value == 0.0 {
        return if value.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    if !value.is_finite() {
        return if value.is_nan() {
            "NaN".into()
        } else if value > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let magnitude = value.abs();
    if (1e-3..1e7).contains(&magnitude) {
        // Rust's `Debug` is the shortest text that reads back to the same double, with `.0` on
        // whole numbers, as Java's is in this range.
        return format!("{value:?}");
    }
    let text = format!("{value:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let mantissa = if mantissa.contains('.') { mantissa.to_owned() } else { format!("{mantissa}.0") };
    format!("{mantissa}E{exponent}")
}

/// `(year, month, day, hour, minute, second, millisecond)` of an epoch-millisecond time, UTC.
fn civil(ms: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    // Days to a civil date (H. Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let secs = in_day / 1000;
    (year, month, day, (secs / 3600) as u32, ((secs / 60) % 60) as u32, (secs % 60) as u32, (in_day % 1000) as u32)
}

/// `06/12/26 23:10:00`: a datapoint's time in a state reason.
pub fn reason_date(ms: i64) -> String {
    let (year, month, day, hour, minute, second, _) = civil(ms);
    format!("{day:02}/{month:02}/{:02} {hour:02}:{minute:02}:{second:02}", year.rem_euclid(100))
}

/// `2026-12-06T23:10:12.345+0000`: a time in reason data and history data.
pub fn iso_millis(ms: i64) -> String {
    let (year, month, day, hour, minute, second, milli) = civil(ms);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}+0000")
}

/// `1 datapoint` / `3 datapoints`.
pub fn datapoints(n: usize) -> String {
    if n == 1 { "1 datapoint".into() } else { format!("{n} datapoints") }
}

/// `was` / `were`.
pub fn was(n: usize) -> &'static str {
    if n == 1 { "was" } else { "were" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_java_prints_them() {
        assert_eq!(java_double(5.0), "5.0");
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(0.059), "0.059");
        assert_eq!(java_double(596.3636363636364), "596.3636363636364");
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(12_345_678.0), "1.2345678E7");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(-2.5), "-2.5");
    }

    #[test]
    fn times_print_as_the_service_prints_them() {
        // 2026-12-06T23:10:00Z
        let ms = 1_796_598_600_000;
        assert_eq!(reason_date(ms), "06/12/26 23:10:00");
        assert_eq!(iso_millis(ms + 345), "2026-12-06T23:10:00.345+0000");
        assert_eq!(iso_millis(0), "1970-01-01T00:00:00.000+0000");
        assert_eq!(reason_date(951_782_400_000), "29/02/00 00:00:00");
    }
}
