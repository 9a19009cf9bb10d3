//! The account and region of a request, read from its SigV4 `Authorization` header.
//!
//! smemu does not verify signatures (it is a local tool); it only reads the credential scope
//! `<access-key-id>/<date>/<region>/<service>/aws4_request` so that ARNs and visibility follow
//! the caller's region and, for 12-digit access key ids, its account.

use smemu_store::Scope;

use crate::ApiConfig;

pub fn scope_of(authorization: Option<&str>, config: &ApiConfig) -> Scope {
    let (key, region) = authorization.and_then(credential_scope).unwrap_or_default();
    let account = Some(key)
        .filter(|key| key.len() == 12 && key.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or(&config.default_account);
    let region = Some(region).filter(|r| !r.is_empty()).unwrap_or(&config.default_region);
    Scope { account: account.to_owned(), region: region.to_owned() }
}

/// The access key id and the region of `Credential=<key>/<date>/<region>/...` in an
/// `AWS4-HMAC-SHA256` header (read for every request, so without collecting the parts).
fn credential_scope(header: &str) -> Option<(&str, &str)> {
    let rest = header.strip_prefix("AWS4-HMAC-SHA256")?;
    let credential = rest.split(',').map(str::trim).find_map(|part| part.strip_prefix("Credential="))?;
    let mut parts = credential.split('/');
    let key = parts.next().unwrap_or_default();
    let region = parts.nth(1).unwrap_or_default();
    Some((key, region))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/eu-central-1/sagemaker/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";

    #[test]
    fn region_comes_from_the_credential_scope_and_account_from_the_default() {
        let scope = scope_of(Some(AUTH), &ApiConfig::default());
        assert_eq!(scope.region, "eu-central-1");
        assert_eq!(scope.account, "000000000000");
    }

    #[test]
    fn a_twelve_digit_access_key_id_is_the_account() {
        let auth = AUTH.replace("AKIDEXAMPLE", "123456789012");
        assert_eq!(scope_of(Some(&auth), &ApiConfig::default()).account, "123456789012");
    }

    #[test]
    fn unsigned_requests_use_the_defaults() {
        let scope = scope_of(None, &ApiConfig::default());
        assert_eq!((scope.account.as_str(), scope.region.as_str()), ("000000000000", "us-east-1"));
        let scope = scope_of(Some("Bearer xyz"), &ApiConfig::default());
        assert_eq!(scope.region, "us-east-1");
    }
}
