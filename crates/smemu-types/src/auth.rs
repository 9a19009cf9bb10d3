//! Who may call smemu: the access keys `--auth strict` accepts (`--access-keys FILE`) and the
//! well-formed account ids and region names every identity is checked against.

use std::collections::HashMap;

/// One accepted access key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub secret_access_key: String,
    /// The account this key acts as; `None`: the account rules of `--auth any` apply
    /// (the key id itself when it is 12 digits, else the default account).
    pub account: Option<String>,
}

/// The keys of an `--access-keys` file: `ACCESS_KEY_ID SECRET_ACCESS_KEY [ACCOUNT_ID]` per line;
/// blank lines and lines starting with `#` are skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessKeys {
    keys: HashMap<String, Credential>,
}

impl AccessKeys {
    /// Parses the file's text; an error names the line that is wrong.
    pub fn parse(text: &str) -> Result<AccessKeys, String> {
        let mut keys = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (id, secret, account) = match fields.as_slice() {
                [id, secret] => (*id, *secret, None),
                [id, secret, account] => (*id, *secret, Some(*account)),
                _ => {
                    return Err(format!("line {}: expected `ACCESS_KEY_ID SECRET_ACCESS_KEY [ACCOUNT_ID]`", index + 1));
                }
            };
            if let Some(account) = account
                && !is_account_id(account)
            {
                return Err(format!("line {}: account {account:?} is not 12 digits", index + 1));
            }
            let credential = Credential { secret_access_key: secret.to_owned(), account: account.map(str::to_owned) };
            if keys.insert(id.to_owned(), credential).is_some() {
                return Err(format!("line {}: access key {id:?} is listed twice", index + 1));
            }
        }
        Ok(AccessKeys { keys })
    }

    pub fn get(&self, access_key_id: &str) -> Option<&Credential> {
        self.keys.get(access_key_id)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Credential)> {
        self.keys.iter().map(|(id, credential)| (id.as_str(), credential))
    }
}

/// A 12-digit AWS account id.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// A well-formed region name: lower-case words of letters and digits joined by single hyphens,
/// at most 32 bytes (`us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`). Nothing else
/// becomes part of an ARN or a path.
pub fn is_region_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 32
        && text.split('-').count() >= 2
        && text
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_with_and_without_accounts() {
        let keys = AccessKeys::parse("# keys\nAKID1 secret1\n\nAKID2 secret2 123456789012\n").unwrap_or_default();
        assert_eq!(keys.get("AKID1").map(|c| c.account.clone()), Some(None));
        assert_eq!(keys.get("AKID2").and_then(|c| c.account.as_deref()), Some("123456789012"));
        assert_eq!(keys.get("AKID2").map(|c| c.secret_access_key.as_str()), Some("secret2"));
        assert!(keys.get("AKID3").is_none());
    }

    #[test]
    fn refuses_malformed_lines_naming_them() {
        assert_eq!(
            AccessKeys::parse("AKID1").unwrap_err(),
            "line 1: expected `ACCESS_KEY_ID SECRET_ACCESS_KEY [ACCOUNT_ID]`"
        );
        assert_eq!(AccessKeys::parse("a b\nc d 12").unwrap_err(), "line 2: account \"12\" is not 12 digits");
        assert!(AccessKeys::parse("a b\na c").unwrap_err().contains("twice"));
    }

    #[test]
    fn regions_and_accounts_are_well_formed_or_refused() {
        for good in ["us-east-1", "eu-central-2", "us-gov-west-1", "ap-southeast-4"] {
            assert!(is_region_name(good), "{good}");
        }
        for bad in [
            "",
            "us",
            "..",
            "us-east-1:123",
            "US-EAST-1",
            "us--east",
            "us-east-1/x",
            "a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
        assert!(is_account_id("123456789012"));
        assert!(!is_account_id("12345678901a"));
        assert!(!is_account_id("1234567890123"));
    }
}
