//! Who a request to the embedded S3 comes from: the account of its access key, with the rule
//! of the SageMaker API (a 12-digit access key id is the account, any other key the default
//! account; with `--auth strict`, the account the `--access-keys` file gives the key).
//!
//! smemu's own client signs with [`InternalKey`]: a secret generated at start and never
//! written anywhere, with one access key id per account (`SMEMUINTERNAL<account>`), so that
//! its reads and writes for a job or an endpoint act as that resource's account, in strict
//! mode too.

use std::fmt;
use std::sync::Arc;

use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Error, S3ErrorCode, S3Result};
use smemu_types::auth::{AccessKeys, is_account_id};

/// The prefix of [`InternalKey`]'s access key ids; the account id follows.
const INTERNAL_PREFIX: &str = "SMEMUINTERNAL";

/// The account of requests without a usable access key when none is configured.
pub const DEFAULT_ACCOUNT: &str = "000000000000";

/// The key smemu signs its own S3 requests with. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct InternalKey {
    secret: String,
}

impl InternalKey {
    /// A fresh random secret (two v4 UUIDs, 244 random bits).
    pub fn generate() -> Self {
        InternalKey { secret: format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()) }
    }

    /// The access key id that acts as `account`.
    pub fn access_key_for(&self, account: &str) -> String {
        format!("{INTERNAL_PREFIX}{account}")
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The account an internal access key id acts as.
    fn account_of(access_key: &str) -> Option<&str> {
        access_key.strip_prefix(INTERNAL_PREFIX).filter(|account| is_account_id(account))
    }
}

impl fmt::Debug for InternalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InternalKey(..)")
    }
}

/// How the embedded S3 authenticates requests and which account it gives them.
#[derive(Debug, Clone)]
pub struct EmbeddedAuth {
    /// `None`: `--auth any`, signatures are not checked. `Some`: `--auth strict`, every request
    /// must be signed (SigV4 header or presigned URL) with one of these keys or the internal key.
    pub strict_keys: Option<AccessKeys>,
    /// The account of keys that name none (`--default-account`).
    pub default_account: String,
    /// The key smemu's own client signs with (see [`crate::ObjectsConfig::embedded_key`]).
    pub internal_key: InternalKey,
}

impl EmbeddedAuth {
    /// `--auth any` with the default account `000000000000` and a fresh internal key.
    pub fn any() -> Self {
        EmbeddedAuth {
            strict_keys: None,
            default_account: DEFAULT_ACCOUNT.to_owned(),
            internal_key: InternalKey::generate(),
        }
    }

    /// `--auth strict` with these keys.
    pub fn strict(keys: AccessKeys) -> Self {
        EmbeddedAuth { strict_keys: Some(keys), ..Self::any() }
    }

    /// The account `access_key` acts as. In strict mode this is asked only once s3s has verified
    /// the request's signature with the key's secret.
    pub(crate) fn account_of(&self, access_key: &str) -> String {
        if let Some(account) = self
            .strict_keys
            .as_ref()
            .and_then(|keys| keys.get(access_key))
            .and_then(|credential| credential.account.clone())
        {
            return account;
        }
        if let Some(account) = InternalKey::account_of(access_key) {
            return account.to_owned();
        }
        if is_account_id(access_key) { access_key.to_owned() } else { self.default_account.clone() }
    }

    /// The account an unverified request claims (`--auth any`): from the access key id of its
    /// SigV4 `Authorization` header or presigned URL, else the default account.
    pub(crate) fn claimed_account<B>(&self, req: &http::Request<B>) -> String {
        let from_header = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("AWS4-HMAC-SHA256"))
            .and_then(|rest| rest.split(',').map(str::trim).find_map(|part| part.strip_prefix("Credential=")))
            .map(|credential| credential.split('/').next().unwrap_or_default().to_owned());
        let from_query = || {
            req.uri().query().and_then(|query| {
                query.split('&').find_map(|pair| {
                    let value = pair.strip_prefix("X-Amz-Credential=")?;
                    let decoded = value.replace("%2F", "/").replace("%2f", "/");
                    Some(decoded.split('/').next().unwrap_or_default().to_owned())
                })
            })
        };
        match from_header.or_else(from_query) {
            Some(key) => self.account_of(&key),
            None => self.default_account.clone(),
        }
    }
}

/// The secret keys s3s verifies signatures with.
#[derive(Debug, Clone)]
pub(crate) struct Authenticator(pub(crate) Arc<EmbeddedAuth>);

#[async_trait::async_trait]
impl S3Auth for Authenticator {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        let auth = &self.0;
        if let Some(credential) = auth.strict_keys.as_ref().and_then(|keys| keys.get(access_key)) {
            return Ok(SecretKey::from(credential.secret_access_key.clone()));
        }
        if InternalKey::account_of(access_key).is_some() {
            return Ok(SecretKey::from(auth.internal_key.secret.clone()));
        }
        if auth.strict_keys.is_some() {
            // https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records.",
            ));
        }
        // `--auth any` strips every signature it can (see the module docs of `embedded`); only
        // aws-chunked uploads keep theirs, and their chunks cannot be decoded without the secret.
        Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "aws-chunked uploads need smemu started with --auth strict; send plain payloads with --auth any",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> AccessKeys {
        AccessKeys::parse("AKIDA secretA 111111111111\nAKIDB secretB\n").unwrap_or_default()
    }

    #[test]
    fn accounts_follow_the_api_rules() {
        let any = EmbeddedAuth::any();
        assert_eq!(any.account_of("123456789012"), "123456789012");
        assert_eq!(any.account_of("AKIDEXAMPLE"), "000000000000");
        assert_eq!(any.account_of(&any.internal_key.access_key_for("222222222222")), "222222222222");
        assert_eq!(any.account_of("SMEMUINTERNAL12"), "000000000000");
        let strict = EmbeddedAuth::strict(keys());
        assert_eq!(strict.account_of("AKIDA"), "111111111111");
        assert_eq!(strict.account_of("AKIDB"), "000000000000");
    }

    #[test]
    fn the_claimed_account_comes_from_the_header_or_the_presigned_credential() {
        let any = EmbeddedAuth::any();
        let signed = http::Request::builder()
            .uri("/b/k")
            .header("authorization", "AWS4-HMAC-SHA256 Credential=123456789012/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x")
            .body(())
            .unwrap_or_default();
        assert_eq!(any.claimed_account(&signed), "123456789012");
        let presigned = http::Request::builder()
            .uri("/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=333333333333%2F20260101%2Fus-east-1%2Fs3%2Faws4_request")
            .body(())
            .unwrap_or_default();
        assert_eq!(any.claimed_account(&presigned), "333333333333");
        let anonymous = http::Request::builder().uri("/b/k").body(()).unwrap_or_default();
        assert_eq!(any.claimed_account(&anonymous), "000000000000");
    }

    #[tokio::test]
    async fn strict_mode_knows_listed_and_internal_keys_only() {
        let strict = EmbeddedAuth::strict(keys());
        let internal = strict.internal_key.access_key_for("111111111111");
        let auth = Authenticator(Arc::new(strict));
        assert_eq!(auth.get_secret_key("AKIDA").await.map(|s| s.expose().to_owned()).ok().as_deref(), Some("secretA"));
        assert!(auth.get_secret_key(&internal).await.is_ok());
        let unknown = auth.get_secret_key("AKIDX").await.err().map(|e| e.code().clone());
        assert_eq!(unknown, Some(S3ErrorCode::InvalidAccessKeyId));
    }
}
