//! How a value appears inside a violation message (`Value '<rendered>' at ...`): strings as they are,
//! numbers plainly, lists as `[a, b]`, maps as `{k=v}`, structures as compact JSON.

use std::collections::BTreeMap;

/// A value as the violation message shows it.
pub(crate) trait Render {
    fn render(&self) -> String;
}

impl Render for str {
    fn render(&self) -> String {
        self.to_owned()
    }
}

impl Render for String {
    fn render(&self) -> String {
        self.clone()
    }
}

macro_rules! render_display {
    ($($t:ty),*) => {
        $(impl Render for $t {
            fn render(&self) -> String {
                self.to_string()
            }
        })*
    };
}
render_display!(i32, i64, f64, bool);

impl Render for crate::Timestamp {
    fn render(&self) -> String {
        self.as_secs_f64().to_string()
    }
}

impl<T: Render> Render for [T] {
    fn render(&self) -> String {
        let items: Vec<String> = self.iter().map(Render::render).collect();
        format!("[{}]", items.join(", "))
    }
}

impl<T: Render> Render for Vec<T> {
    fn render(&self) -> String {
        self.as_slice().render()
    }
}

impl<T: Render> Render for BTreeMap<String, T> {
    fn render(&self) -> String {
        let entries: Vec<String> = self.iter().map(|(k, v)| format!("{k}={}", v.render())).collect();
        format!("{{{}}}", entries.join(", "))
    }
}

impl<T: Render + ?Sized> Render for Box<T> {
    fn render(&self) -> String {
        (**self).render()
    }
}

/// A blob: its size, never its bytes (payloads may be binary and large).
pub(crate) struct ByteCount(pub usize);

impl Render for ByteCount {
    fn render(&self) -> String {
        format!("<{} bytes>", self.0)
    }
}

/// Structures render as their compact JSON (what the client sent, minus unknown members).
pub(crate) fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
