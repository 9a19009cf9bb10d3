//! Who is asking and in which region: derived once per request by the wire layer.

use smemu_store::Scope;

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub scope: Scope,
    pub request_id: String,
}
