//! `--auth strict`: AWS Signature Version 4, header-signed and presigned, checked against the keys
//! of `--access-keys`.
//!
//! The canonical request is not built here: the received request is signed again with the
//! maintained implementation the AWS SDK for Rust signs with (`aws-sigv4`), using the key's secret,
//! the client's credential scope, date and signed headers, and the two signatures are compared in
//! constant time. What is parsed here is only what that needs: the `Authorization` header (or the
//! `X-Amz-*` query parameters of a presigned request), the credential scope and the date.
//! See <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html> and
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;
use http::HeaderMap;
use http::header::{AUTHORIZATION, HOST};
use smemu_types::auth::{AccessKeys, Credential, is_region_name};

use super::auth_error::AuthError;

/// The only algorithm SigV4 has (SigV4a is not served).
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a request's date may be from smemu's clock, as AWS allows ("RequestExpired" in
/// <https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/common-errors.html>).
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);
/// The longest validity a presigned request may ask for: seven days.
const MAX_EXPIRES: u64 = 7 * 24 * 3600;
/// The most headers a signature may list: far more than any SDK signs (about ten), and a bound
/// on the work a crafted `SignedHeaders` can ask for.
const MAX_SIGNED_HEADERS: usize = 64;
/// A payload the client chose not to sign.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// What the check needs of a received request.
pub(crate) struct Received<'a> {
    pub method: &'a str,
    /// The request target as received: the path, still percent-encoded, and the query.
    pub target: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// A request whose signature matched.
#[derive(Debug)]
pub(crate) struct Verified<'k> {
    pub access_key_id: String,
    pub region: String,
    pub credential: &'k Credential,
}

/// The signature parts a client sent, from the header or from the query.
struct Presented<'a> {
    credential: String,
    signed_headers: String,
    signature: String,
    /// `X-Amz-Date`.
    date: String,
    /// `X-Amz-Expires` of a presigned request; `None` for a header-signed one.
    expires: Option<String>,
    /// The query with the presigning parameters taken out (they are signed again).
    query: Option<Vec<&'a str>>,
}

/// Checks the signature of `request` for `service` at `now`.
pub(crate) fn verify<'k>(
    keys: &'k AccessKeys,
    service: &str,
    request: &Received<'_>,
    now: SystemTime,
) -> Result<Verified<'k>, AuthError> {
    let presented = presented(request)?;
    let scope: Vec<&str> = presented.credential.split('/').collect();
    let [access_key_id, day, region, scoped_service, terminator] = scope.as_slice() else {
        return Err(AuthError::Incomplete(format!(
            "Credential should be scoped to a valid region, service and terminator: 'aws4_request'. Credential={}",
            echo(&presented.credential)
        )));
    };
    if !is_region_name(region) {
        return Err(AuthError::InvalidRegion(echo(region)));
    }
    if *scoped_service != service {
        return Err(AuthError::WrongService(service.to_owned()));
    }
    if *terminator != "aws4_request" {
        return Err(AuthError::Incomplete(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
            echo(terminator)
        )));
    }
    let credential = keys.get(access_key_id).ok_or(AuthError::UnknownKey)?;
    let signed_at = parse_amz_date(&presented.date).ok_or_else(|| {
        AuthError::Incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
            echo(&presented.date)
        ))
    })?;
    if !presented.date.starts_with(day) || day.len() != 8 {
        return Err(AuthError::Mismatch);
    }
    let expires = match &presented.expires {
        None => None,
        Some(text) => match text.parse::<u64>() {
            Ok(secs) if secs <= MAX_EXPIRES => Some(Duration::from_secs(secs)),
            _ => {
                return Err(AuthError::Incomplete(
                    "X-Amz-Expires must be less than a week (in seconds) that is 604800".into(),
                ));
            }
        },
    };
    check_time(signed_at, expires, now)?;

    let expected = sign_again(request, &presented, credential, access_key_id, region, service, signed_at, expires)?;
    if constant_time_eq(expected.as_bytes(), presented.signature.as_bytes()) {
        Ok(Verified { access_key_id: (*access_key_id).to_owned(), region: (*region).to_owned(), credential })
    } else {
        Err(AuthError::Mismatch)
    }
}

/// The signature parts of a header-signed or presigned request.
fn presented<'a>(request: &Received<'a>) -> Result<Presented<'a>, AuthError> {
    let (_, query) = split_target(request.target);
    if let Some(authorization) = request.headers.get(AUTHORIZATION) {
        let header = authorization.to_str().map_err(|_| AuthError::Incomplete(incomplete_header(&[])))?;
        return from_header(header, request.headers);
    }
    if let Some(query) = query
        && query.split('&').any(|pair| pair.starts_with("X-Amz-Algorithm="))
    {
        return from_query(query);
    }
    Err(AuthError::Missing)
}

fn from_header<'a>(header: &str, headers: &HeaderMap) -> Result<Presented<'a>, AuthError> {
    let rest = header.strip_prefix(ALGORITHM).filter(|rest| rest.starts_with(' '));
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.unwrap_or_default().split(',').map(str::trim) {
        if let Some(value) = part.strip_prefix("Credential=") {
            credential = Some(value.to_owned());
        } else if let Some(value) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(value.to_owned());
        } else if let Some(value) = part.strip_prefix("Signature=") {
            signature = Some(value.to_owned());
        }
    }
    let date = headers.get("x-amz-date").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut missing = Vec::new();
    if credential.is_none() {
        missing.push("Authorization header requires 'Credential' parameter.");
    }
    if signature.is_none() {
        missing.push("Authorization header requires 'Signature' parameter.");
    }
    if signed_headers.is_none() {
        missing.push("Authorization header requires 'SignedHeaders' parameter.");
    }
    if date.is_none() {
        missing.push("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
    }
    match (credential, signed_headers, signature, date) {
        (Some(credential), Some(signed_headers), Some(signature), Some(date)) => {
            Ok(Presented { credential, signed_headers, signature, date, expires: None, query: None })
        }
        _ => Err(AuthError::Incomplete(incomplete_header(&missing))),
    }
}

fn incomplete_header(missing: &[&str]) -> String {
    if missing.is_empty() {
        "Authorization header is not a valid AWS4-HMAC-SHA256 signature.".to_owned()
    } else {
        missing.join(" ")
    }
}

fn from_query(query: &str) -> Result<Presented<'_>, AuthError> {
    let mut kept = Vec::new();
    let (mut algorithm, mut credential, mut signed_headers, mut signature, mut date, mut expires) =
        (None, None, None, None, None, None);
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match name {
            "X-Amz-Algorithm" => &mut algorithm,
            "X-Amz-Credential" => &mut credential,
            "X-Amz-SignedHeaders" => &mut signed_headers,
            "X-Amz-Signature" => &mut signature,
            "X-Amz-Date" => &mut date,
            "X-Amz-Expires" => &mut expires,
            _ => {
                kept.push(pair);
                continue;
            }
        };
        *slot = Some(percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned());
    }
    let mut missing = Vec::new();
    for (value, name) in [
        (&credential, "X-Amz-Credential"),
        (&signed_headers, "X-Amz-SignedHeaders"),
        (&signature, "X-Amz-Signature"),
        (&date, "X-Amz-Date"),
        (&expires, "X-Amz-Expires"),
    ] {
        if value.is_none() {
            missing.push(format!("AWS query-string parameters must include '{name}'."));
        }
    }
    if algorithm.as_deref() != Some(ALGORITHM) {
        missing.push(format!("X-Amz-Algorithm only supports '{ALGORITHM}'."));
    }
    match (credential, signed_headers, signature, date, expires) {
        (Some(credential), Some(signed_headers), Some(signature), Some(date), Some(expires)) if missing.is_empty() => {
            Ok(Presented { credential, signed_headers, signature, date, expires: Some(expires), query: Some(kept) })
        }
        _ => Err(AuthError::Incomplete(format!("{} Re-examine the query-string parameters.", missing.join(" ")))),
    }
}

/// The request's date against smemu's clock: at most 15 minutes apart, and a presigned request
/// not past its expiry. Texts as AWS gives them (e.g. `Signature expired: 20140325T143453Z is now
/// earlier than 20140325T143751Z (20140325T145251Z - 15 min.)`).
fn check_time(signed_at: SystemTime, expires: Option<Duration>, now: SystemTime) -> Result<(), AuthError> {
    if signed_at > now + MAX_SKEW {
        return Err(AuthError::NotYetCurrent {
            signed: format_amz_date(signed_at),
            latest: format_amz_date(now + MAX_SKEW),
            now: format_amz_date(now),
        });
    }
    let valid_until = signed_at + expires.unwrap_or(MAX_SKEW);
    if valid_until < now {
        return Err(AuthError::Expired {
            signed: format_amz_date(signed_at),
            earliest: format_amz_date(now.checked_sub(expires.unwrap_or(MAX_SKEW)).unwrap_or(UNIX_EPOCH)),
            now: format_amz_date(now),
            window: match expires {
                Some(expires) => format!(" - {} sec.", expires.as_secs()),
                None => " - 15 min.".to_owned(),
            },
        });
    }
    Ok(())
}

/// The signature of `request` as a client holding `credential` would have computed it.
#[allow(clippy::too_many_arguments)] // The parts of one check, each named at the one call site.
fn sign_again(
    request: &Received<'_>,
    presented: &Presented<'_>,
    credential: &Credential,
    access_key_id: &str,
    region: &str,
    service: &str,
    signed_at: SystemTime,
    expires: Option<Duration>,
) -> Result<String, AuthError> {
    let (path, query) = split_target(request.target);
    let target = match (&presented.query, query) {
        (Some(kept), _) if kept.is_empty() => path.to_owned(),
        (Some(kept), _) => format!("{path}?{}", kept.join("&")),
        (None, _) => request.target.to_owned(),
    };
    // Exactly the headers the client signed (and `host`, which SigV4 always signs); the date is
    // given to the signer as the signing time, which puts it back.
    let mut names: Vec<&str> = presented.signed_headers.split(';').collect();
    let listed = names.len();
    names.sort_unstable();
    names.dedup();
    // A repeated or unsorted name is not what a signer writes: the signature cannot match.
    if listed > MAX_SIGNED_HEADERS || names.len() != listed {
        return Err(AuthError::Mismatch);
    }
    let mut headers: Vec<(&str, &str)> = Vec::new();
    let host = request.headers.get(HOST).and_then(|v| v.to_str().ok()).ok_or(AuthError::Mismatch)?;
    headers.push(("host", host));
    for name in names {
        if name == "host" || (expires.is_none() && name == "x-amz-date") {
            continue;
        }
        for value in request.headers.get_all(name) {
            headers.push((name, value.to_str().map_err(|_| AuthError::Mismatch)?));
        }
    }
    let unsigned_payload =
        request.headers.get("x-amz-content-sha256").is_some_and(|v| v.as_bytes() == UNSIGNED_PAYLOAD.as_bytes());
    let body = if unsigned_payload { SignableBody::UnsignedPayload } else { SignableBody::Bytes(request.body) };

    let mut settings = SigningSettings::default();
    // The client decided what it signed; nothing it listed is left out.
    settings.excluded_headers = Some(Vec::new());
    if let Some(expires) = expires {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires);
    }
    let identity =
        Credentials::new(access_key_id, credential.secret_access_key.clone(), None, None, "smemu-access-keys").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|_| AuthError::Mismatch)?
        .into();
    let signable =
        SignableRequest::new(request.method, target, headers.into_iter(), body).map_err(|_| AuthError::Mismatch)?;
    let output = sign(signable, &params).map_err(|_| AuthError::Mismatch)?;
    Ok(output.signature().to_owned())
}

fn split_target(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

/// Equal bytes, compared without stopping at the first difference, so that the time taken does
/// not tell a caller how much of a guessed signature was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// At most 64 characters of a client's text in an error message.
fn echo(text: &str) -> String {
    text.chars().take(64).collect()
}

/// `YYYYMMDD'T'HHMMSS'Z'`, the SigV4 date format.
pub(crate) fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = text.get(range)?;
        digits.bytes().all(|b| b.is_ascii_digit()).then(|| digits.parse().ok())?
    };
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

pub(crate) fn format_amz_date(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    /// The AWS SigV4 test suite's key (`get-vanilla` and friends).
    const KEYS: &str = "AKIDEXAMPLE wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY 123456789012";
    const DATE: &str = "20150830T123600Z";

    fn keys() -> AccessKeys {
        AccessKeys::parse(KEYS).unwrap()
    }

    fn at(date: &str) -> SystemTime {
        parse_amz_date(date).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    /// `get-vanilla` from the AWS SigV4 test suite: `GET /` to example.amazonaws.com.
    fn vanilla(signature: &str) -> HeaderMap {
        headers(&[
            ("host", "example.amazonaws.com"),
            ("x-amz-date", DATE),
            (
                "authorization",
                &format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature={signature}"
                ),
            ),
        ])
    }

    const VANILLA_SIGNATURE: &str = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

    #[test]
    fn the_aws_test_suite_example_verifies() {
        let keys = keys();
        let headers = vanilla(VANILLA_SIGNATURE);
        let request = Received { method: "GET", target: "/", headers: &headers, body: b"" };
        let verified = verify(&keys, "service", &request, at(DATE)).unwrap();
        assert_eq!(verified.region, "us-east-1");
        assert_eq!(verified.credential.account.as_deref(), Some("123456789012"));
    }

    /// The IAM `ListUsers` example of the SigV4 documentation (a query and a signed content type).
    #[test]
    fn the_documentation_example_with_a_query_verifies() {
        let keys = keys();
        let headers = headers(&[
            ("host", "iam.amazonaws.com"),
            ("content-type", "application/x-www-form-urlencoded; charset=utf-8"),
            ("x-amz-date", DATE),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
            ),
        ]);
        let request =
            Received { method: "GET", target: "/?Action=ListUsers&Version=2010-05-08", headers: &headers, body: b"" };
        assert!(verify(&keys, "iam", &request, at(DATE)).is_ok());
    }

    #[test]
    fn a_changed_signature_method_path_or_body_does_not_verify() {
        let keys = keys();
        let wrong = VANILLA_SIGNATURE.replace('5', "6");
        let headers = vanilla(&wrong);
        let request = Received { method: "GET", target: "/", headers: &headers, body: b"" };
        assert_eq!(verify(&keys, "service", &request, at(DATE)).unwrap_err(), AuthError::Mismatch);
        let headers = vanilla(VANILLA_SIGNATURE);
        for (method, target, body) in [("POST", "/", &b""[..]), ("GET", "/x", b""), ("GET", "/", b"x")] {
            let request = Received { method, target, headers: &headers, body };
            assert_eq!(verify(&keys, "service", &request, at(DATE)).unwrap_err(), AuthError::Mismatch, "{target}");
        }
    }

    #[test]
    fn unknown_keys_bad_scopes_and_missing_parts_are_refused_with_their_errors() {
        let keys = keys();
        let check = |headers: HeaderMap| {
            let request = Received { method: "GET", target: "/", headers: &headers, body: b"" };
            verify(&keys, "service", &request, at(DATE)).unwrap_err()
        };
        let auth = vanilla(VANILLA_SIGNATURE)["authorization"].to_str().unwrap().to_owned();
        let with = |auth: &str| {
            let mut h = vanilla(VANILLA_SIGNATURE);
            h.insert("authorization", HeaderValue::from_str(auth).unwrap());
            h
        };
        assert_eq!(check(with(&auth.replace("AKIDEXAMPLE", "AKIDOTHER"))), AuthError::UnknownKey);
        assert_eq!(
            check(with(&auth.replace("us-east-1", "us-east-1:999999999999"))),
            AuthError::InvalidRegion("us-east-1:999999999999".into())
        );
        assert_eq!(check(with(&auth.replace("us-east-1", ".."))), AuthError::InvalidRegion("..".into()));
        assert_eq!(check(with(&auth.replace("/service/", "/s3/"))), AuthError::WrongService("service".into()));
        assert!(
            matches!(check(with(&auth.replace(", Signature=", ", Sig="))), AuthError::Incomplete(m) if m.contains("'Signature'"))
        );
        assert!(matches!(check(with("Bearer token")), AuthError::Incomplete(_)));
        let mut no_date = vanilla(VANILLA_SIGNATURE);
        no_date.remove("x-amz-date");
        assert!(matches!(check(no_date), AuthError::Incomplete(m) if m.contains("X-Amz-Date")));
        assert_eq!(check(headers(&[("host", "example.amazonaws.com")])), AuthError::Missing);
    }

    #[test]
    fn a_signed_header_list_with_repeats_or_too_many_names_does_not_verify() {
        let keys = keys();
        let auth = vanilla(VANILLA_SIGNATURE)["authorization"].to_str().unwrap().to_owned();
        for list in ["host;host;x-amz-date".to_owned(), format!("host;{}x-amz-date", "x-a;".repeat(100))] {
            let mut headers = vanilla(VANILLA_SIGNATURE);
            let changed = auth.replace("SignedHeaders=host;x-amz-date", &format!("SignedHeaders={list}"));
            headers.insert("authorization", HeaderValue::from_str(&changed).unwrap());
            let request = Received { method: "GET", target: "/", headers: &headers, body: b"" };
            assert_eq!(verify(&keys, "service", &request, at(DATE)).unwrap_err(), AuthError::Mismatch);
        }
    }

    #[test]
    fn a_date_more_than_15_minutes_off_is_refused() {
        let keys = keys();
        let headers = vanilla(VANILLA_SIGNATURE);
        let request = Received { method: "GET", target: "/", headers: &headers, body: b"" };
        assert!(verify(&keys, "service", &request, at("20150830T125000Z")).is_ok());
        let err = verify(&keys, "service", &request, at("20150830T125200Z")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z (20150830T125200Z - 15 min.)"
        );
        let err = verify(&keys, "service", &request, at("20150830T122000Z")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Signature not yet current: 20150830T123600Z is still later than 20150830T123500Z (20150830T122000Z + 15 min.)"
        );
    }

    /// A request presigned by `aws-sigv4` itself, as an SDK's presigner would.
    fn presign(target: &str, expires: u64) -> String {
        let identity =
            Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None, "test").into();
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(expires));
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name("sagemaker")
            .time(at(DATE))
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let url = format!("http://127.0.0.1:9090{target}");
        let signable =
            SignableRequest::new("POST", &url, [("host", "127.0.0.1:9090")].into_iter(), SignableBody::Bytes(b"1,2"))
                .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut request = http::Request::builder().uri(&url).body(()).unwrap();
        instructions.apply_to_request_http1x(&mut request);
        request.uri().path_and_query().unwrap().to_string()
    }

    #[test]
    fn a_presigned_request_verifies_until_it_expires_and_not_when_changed() {
        let keys = keys();
        let headers = headers(&[("host", "127.0.0.1:9090")]);
        let target = presign("/endpoints/e/invocations?a=1", 60);
        let request = Received { method: "POST", target: &target, headers: &headers, body: b"1,2" };
        let verified = verify(&keys, "sagemaker", &request, at(DATE)).unwrap();
        assert_eq!(verified.region, "eu-west-1");
        assert!(matches!(verify(&keys, "sagemaker", &request, at("20150830T123800Z")), Err(AuthError::Expired { .. })));
        let tampered = target.replace("/e/", "/f/");
        let request = Received { method: "POST", target: &tampered, headers: &headers, body: b"1,2" };
        assert_eq!(verify(&keys, "sagemaker", &request, at(DATE)).unwrap_err(), AuthError::Mismatch);
        let request = Received { method: "POST", target: &target, headers: &headers, body: b"1,3" };
        assert_eq!(verify(&keys, "sagemaker", &request, at(DATE)).unwrap_err(), AuthError::Mismatch);
    }

    #[test]
    fn dates_round_trip_and_malformed_ones_are_refused() {
        for date in [DATE, "19700101T000000Z", "20240229T235959Z", "21000301T000000Z"] {
            assert_eq!(format_amz_date(at(date)), date);
        }
        for bad in
            ["", "20150830T123600", "2015-08-30T12:36:00Z", "20151330T123600Z", "2015083OT123600Z", "+0150830T123600Z"]
        {
            assert!(parse_amz_date(bad).is_none(), "{bad}");
        }
    }
}
