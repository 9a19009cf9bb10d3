//! The account and region of a request, from its SigV4 credential scope: only read with
//! `--auth any` (the default), verified with `--auth strict` (`sigv4.rs`).
//!
//! With `--auth any` smemu does not check signatures (it is a local tool); it reads the scope
//! `<access-key-id>/<date>/<region>/<service>/aws4_request` so that ARNs and visibility follow the
//! caller's region and, for 12-digit access key ids, its account. Either way, a region that is not
//! a well-formed region name is refused: it becomes part of ARNs and of paths on disk.

use std::time::SystemTime;

use http::HeaderMap;
use http::header::AUTHORIZATION;
use smemu_store::Scope;
use smemu_types::auth::{is_account_id, is_region_name};

use super::auth_error::AuthError;
use super::sigv4::{self, Received};
use crate::ApiConfig;

/// The signing name of both SageMaker APIs: `sagemaker-runtime` signs as `sagemaker` too
/// (botocore's `signingName`).
const SERVICE: &str = "sagemaker";

/// The scope of a request. With `--auth any` only the `Authorization` header (or a presigned
/// request's `X-Amz-Credential`) is read; with `--auth strict` its signature is verified first.
pub(crate) fn identify(config: &ApiConfig, request: &Received<'_>) -> Result<Scope, AuthError> {
    identify_as(config, SERVICE, request)
}

/// [`identify`] for a request of another service on the listener, signed with its own signing
/// name (CloudWatch: `monitoring`).
pub(crate) fn identify_as(config: &ApiConfig, service: &str, request: &Received<'_>) -> Result<Scope, AuthError> {
    let Some(keys) = &config.access_keys else {
        return scope_of(request.headers, request.target, config);
    };
    let verified = sigv4::verify(keys, service, request, SystemTime::now())?;
    let account = match &verified.credential.account {
        Some(account) => account.clone(),
        None if is_account_id(&verified.access_key_id) => verified.access_key_id,
        None => config.default_account.clone(),
    };
    Ok(Scope { account, region: verified.region })
}

/// `--auth any`: the scope the request claims, or the defaults for an unsigned request.
pub(crate) fn scope_of(headers: &HeaderMap, target: &str, config: &ApiConfig) -> Result<Scope, AuthError> {
    let header = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let presigned;
    let credential = match header.and_then(credential_in_header) {
        Some(credential) => Some(credential),
        None if header.is_none() && target.contains("X-Amz-Credential=") => {
            presigned = credential_in_query(target);
            presigned.as_deref()
        }
        None => None,
    };
    let Some(credential) = credential else {
        return Ok(Scope { account: config.default_account.clone(), region: config.default_region.clone() });
    };
    let mut parts = credential.split('/');
    let key = parts.next().unwrap_or_default();
    let region = parts.nth(1).unwrap_or_default();
    if !is_region_name(region) {
        return Err(AuthError::InvalidRegion(region.chars().take(64).collect()));
    }
    let account = if is_account_id(key) { key } else { &config.default_account };
    Ok(Scope { account: account.to_owned(), region: region.to_owned() })
}

/// `<key>/<date>/<region>/...` of `Credential=` in an `AWS4-HMAC-SHA256` header (read for every
/// request, so without collecting the parts).
fn credential_in_header(header: &str) -> Option<&str> {
    let rest = header.strip_prefix("AWS4-HMAC-SHA256")?;
    rest.split(',').map(str::trim).find_map(|part| part.strip_prefix("Credential="))
}

/// The percent-decoded `X-Amz-Credential` of a presigned request's query.
fn credential_in_query(target: &str) -> Option<String> {
    let (_, query) = target.split_once('?')?;
    let value = query.split('&').find_map(|pair| pair.strip_prefix("X-Amz-Credential="))?;
    Some(percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http::HeaderValue;
    use smemu_types::auth::AccessKeys;

    use super::*;

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/eu-central-1/sagemaker/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";

    fn with_auth(auth: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        headers
    }

    fn any(headers: &HeaderMap) -> Result<Scope, AuthError> {
        scope_of(headers, "/", &ApiConfig::default())
    }

    #[test]
    fn region_comes_from_the_credential_scope_and_account_from_the_default() {
        let scope = any(&with_auth(AUTH)).unwrap();
        assert_eq!(scope.region, "eu-central-1");
        assert_eq!(scope.account, "000000000000");
    }

    #[test]
    fn a_twelve_digit_access_key_id_is_the_account() {
        let auth = AUTH.replace("AKIDEXAMPLE", "123456789012");
        assert_eq!(any(&with_auth(&auth)).unwrap().account, "123456789012");
        let auth = AUTH.replace("AKIDEXAMPLE", "1234567890123");
        assert_eq!(any(&with_auth(&auth)).unwrap().account, "000000000000");
    }

    #[test]
    fn unsigned_requests_use_the_defaults() {
        let scope = any(&HeaderMap::new()).unwrap();
        assert_eq!((scope.account.as_str(), scope.region.as_str()), ("000000000000", "us-east-1"));
        let scope = any(&with_auth("Bearer xyz")).unwrap();
        assert_eq!(scope.region, "us-east-1");
    }

    #[test]
    fn malformed_regions_are_refused_whatever_the_mode() {
        for region in ["us-east-1:123456789012", "..", "eu-..-1", "", "US-EAST-1", "eu-west-1 "] {
            let auth = AUTH.replace("eu-central-1", region);
            let err = any(&with_auth(&auth)).unwrap_err();
            assert_eq!(err, AuthError::InvalidRegion(region.to_owned()), "{region:?}");
            assert_eq!(err.code().as_str(), "InvalidSignatureException");
        }
        let long = "a".repeat(5000);
        let err = any(&with_auth(&AUTH.replace("eu-central-1", &long))).unwrap_err();
        assert!(err.to_string().len() < 200, "the region is not echoed whole");
        let err = any(&with_auth("AWS4-HMAC-SHA256 Credential=AKID")).unwrap_err();
        assert_eq!(err, AuthError::InvalidRegion(String::new()));
    }

    #[test]
    fn a_presigned_request_names_its_scope_in_the_query() {
        let target = "/endpoints/e/invocations?X-Amz-Credential=123456789012%2F20240101%2Fap-south-1%2Fsagemaker%2Faws4_request&X-Amz-Date=x";
        let scope = scope_of(&HeaderMap::new(), target, &ApiConfig::default()).unwrap();
        assert_eq!((scope.account.as_str(), scope.region.as_str()), ("123456789012", "ap-south-1"));
        let bad = target.replace("ap-south-1", "ap-south-1%3A1");
        assert!(scope_of(&HeaderMap::new(), &bad, &ApiConfig::default()).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Whatever a client puts in `Authorization`, the date and the target, both modes answer
        /// with a scope or an error, and a scope's region is always a region name.
        #[test]
        fn any_credential_text_gives_a_scope_or_an_error(
            auth in "AWS4-HMAC-SHA256 Credential=[A-Za-z0-9/:._ -]{0,60}(, SignedHeaders=[a-z;-]{0,30})?(, Signature=[0-9a-f]{0,64})?",
            date in "[0-9TZ]{0,20}",
            target in "/[a-zA-Z0-9/?&=%._-]{0,60}",
        ) {
            let mut headers = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_str(&auth) {
                headers.insert(AUTHORIZATION, value);
            }
            if let Ok(value) = HeaderValue::from_str(&date) {
                headers.insert("x-amz-date", value);
            }
            headers.insert("host", HeaderValue::from_static("127.0.0.1"));
            if let Ok(scope) = scope_of(&headers, &target, &ApiConfig::default()) {
                proptest::prop_assert!(is_region_name(&scope.region) && is_account_id(&scope.account));
            }
            let keys = AccessKeys::parse("AKID secret 123456789012").unwrap();
            let config = ApiConfig { access_keys: Some(Arc::new(keys)), ..ApiConfig::default() };
            let request = Received { method: "POST", target: &target, headers: &headers, body: b"{}" };
            proptest::prop_assert!(identify(&config, &request).is_err(), "no signature can be right by chance");
        }
    }

    #[test]
    fn strict_mode_needs_a_signature_and_takes_the_account_of_the_key() {
        let keys = AccessKeys::parse("AKIDEXAMPLE secret 210987654321").unwrap();
        let config = ApiConfig { access_keys: Some(Arc::new(keys)), ..ApiConfig::default() };
        let headers = HeaderMap::new();
        let request = Received { method: "POST", target: "/", headers: &headers, body: b"" };
        let err = identify(&config, &request).unwrap_err();
        assert_eq!(err.code().as_str(), "MissingAuthenticationTokenException");
        assert_eq!(err.to_string(), "Missing Authentication Token");
        let mut headers = with_auth(&AUTH.replace("AKIDEXAMPLE", "AKIDOTHER"));
        headers.insert("x-amz-date", HeaderValue::from_static("20240101T000000Z"));
        let request = Received { method: "POST", target: "/", headers: &headers, body: b"" };
        assert_eq!(identify(&config, &request).unwrap_err(), AuthError::UnknownKey);
    }
}
