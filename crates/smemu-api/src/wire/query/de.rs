//! Decoding a generated input shape from a query form: a serde `Deserializer` over the tree of
//! parameters (`form`). The tree's depth is bounded when it is parsed, so following it recurses
//! at most [`super::MAX_DEPTH`] levels.

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use smemu_types::Timestamp;

use super::QueryError;
use super::form::{Node, Params, is_index, shorten};

/// The input shape the parameters describe (after `Action` and `Version` were taken out).
pub(crate) fn from_params<T: DeserializeOwned>(params: &Params) -> Result<T, QueryError> {
    T::deserialize(At { node: &params.root, name: String::new() })
}

/// A node of the tree and the parameter name that leads to it (for error messages).
struct At<'a> {
    node: &'a Node,
    name: String,
}

impl<'a> At<'a> {
    fn text(&self) -> &'a str {
        self.node.value.as_deref().unwrap_or("")
    }

    fn child(&self, segment: &str, node: &'a Node) -> At<'a> {
        let name = if self.name.is_empty() { segment.to_owned() } else { format!("{}.{segment}", self.name) };
        At { node, name }
    }

    /// The service's `InvalidParameterValue` names the parameter and echoes the value; what was
    /// expected is in the type's name, not the text.
    fn invalid(&self, _expected: &str) -> QueryError {
        QueryError::Value { parameter: shorten(&self.name), value: shorten(self.text()) }
    }

    /// The positions below `member` (a list) or `entry` (a map), in order. Positions need not be
    /// contiguous (a position names an item, it is not a length): only the items present are
    /// collected.
    fn indexed(&self, below: &str) -> Vec<At<'a>> {
        let Some(items) = self.node.children.get(below) else {
            return Vec::new();
        };
        let at = self.child(below, items);
        let mut indexed: Vec<(u32, At<'a>)> = items
            .children
            .iter()
            .filter(|(index, _)| is_index(index))
            .filter_map(|(index, node)| Some((index.parse::<u32>().ok()?, at.child(index, node))))
            .collect();
        indexed.sort_by_key(|(index, _)| *index);
        indexed.into_iter().map(|(_, item)| item).collect()
    }

    fn no_value_of_its_own(&self, kind: &str, example: &str) -> Result<(), QueryError> {
        match self.node.value.as_deref() {
            Some(value) if !value.is_empty() && self.node.children.is_empty() => Err(QueryError::Parameter(format!(
                "Parameter {} is a {kind}: send {}.{example}=...",
                shorten(&self.name),
                shorten(&self.name)
            ))),
            _ => Ok(()),
        }
    }

    fn parse<T: std::str::FromStr>(&self, expected: &str) -> Result<T, QueryError> {
        self.text().trim().parse().map_err(|_| self.invalid(expected))
    }
}

impl<'de> de::Deserializer<'de> for At<'_> {
    type Error = QueryError;

    /// Only members the shape does not have come here (ignored): a leaf is its text, a node the
    /// members below it.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        if self.node.children.is_empty() {
            return visitor.visit_str(self.text());
        }
        self.deserialize_map(visitor)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        match self.text().trim() {
            "true" => visitor.visit_bool(true),
            "false" => visitor.visit_bool(false),
            _ => Err(self.invalid("a boolean (true or false)")),
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        visitor.visit_i64(self.parse("an integer")?)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        visitor.visit_i32(self.parse("an integer")?)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        visitor.visit_u64(self.parse("a non-negative integer")?)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        visitor.visit_f64(self.parse("a number")?)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        visitor.visit_f32(self.parse("a number")?)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        visitor.visit_str(self.text())
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        visitor.visit_str(self.text())
    }

    /// A parameter that is present is `Some`; absent members never reach here.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, QueryError> {
        if name != smemu_types::timestamp::SERDE_NAME {
            return visitor.visit_newtype_struct(self);
        }
        // The protocol's timestamps are ISO 8601 (botocore sends `2026-12-06T19:00:00Z`); epoch
        // seconds are accepted too, as the service does.
        let text = self.text().trim();
        let at = match Timestamp::parse_iso8601(text) {
            Some(at) => at,
            None => Timestamp::from_secs_f64(
                text.parse::<f64>()
                    .ok()
                    .filter(|secs| secs.is_finite())
                    .ok_or_else(|| self.invalid("a timestamp (ISO 8601, such as 2026-12-06T19:00:00Z)"))?,
            ),
        };
        visitor.visit_newtype_struct(at.as_secs_f64().into_deserializer())
    }

    /// A list: `Name.member.1`, `Name.member.2`... An empty list is sent as `Name=` (no members);
    /// a list given a value of its own (`Statistics=Sum`) is refused rather than read as empty.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        self.no_value_of_its_own("list", "member.1")?;
        let items = self.indexed("member");
        visitor.visit_seq(de::value::SeqDeserializer::new(items.into_iter()))
    }

    /// A map: `Name.entry.1.key`, `Name.entry.1.value`...
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        if !self.node.children.contains_key("entry") {
            // A structure read as a map (ignored members): its members.
            let members = self.node.children.iter().map(|(name, node)| (name.as_str(), self.child(name, node)));
            return visitor.visit_map(de::value::MapDeserializer::new(members));
        }
        self.no_value_of_its_own("map", "entry.1.key")?;
        let mut pairs = Vec::new();
        for entry in self.indexed("entry") {
            let key = entry.node.children.get("key").map(|key| entry.child("key", key));
            let value = entry.node.children.get("value").map(|value| entry.child("value", value));
            match (key, value) {
                (Some(key), Some(value)) => pairs.push((key, value)),
                _ => {
                    return Err(QueryError::Parameter(format!(
                        "Map entry {} needs both a key and a value.",
                        shorten(&entry.name)
                    )));
                }
            }
        }
        visitor.visit_map(de::value::MapDeserializer::new(pairs.into_iter()))
    }

    /// A structure: its members are the names one segment down.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, QueryError> {
        let members = self.node.children.iter().map(|(name, node)| (name.as_str(), self.child(name, node)));
        visitor.visit_map(de::value::MapDeserializer::new(members))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, QueryError> {
        visitor.visit_enum(self.text().into_deserializer())
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        visitor.visit_unit()
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i128 u8 u16 u32 u128 char bytes byte_buf unit_struct tuple tuple_struct identifier
    }
}

impl<'de, 'a> IntoDeserializer<'de, QueryError> for At<'a> {
    type Deserializer = At<'a>;

    fn into_deserializer(self) -> At<'a> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smemu_types::cloudwatch::{GetMetricStatisticsInput, PutMetricDataInput, StandardUnit, Statistic};

    fn decode<T: DeserializeOwned>(body: &str) -> Result<T, QueryError> {
        from_params(&Params::parse(body.as_bytes())?)
    }

    #[test]
    fn reads_lists_structures_scalars_and_timestamps() {
        let input: GetMetricStatisticsInput = decode(
            "Namespace=AWS%2FSageMaker&MetricName=Invocations&Period=60\
             &StartTime=2026-12-06T19%3A00%3A00Z&EndTime=1796585460.5\
             &Statistics.member.2=Sum&Statistics.member.1=Average\
             &Dimensions.member.1.Name=EndpointName&Dimensions.member.1.Value=ep&Unit=Count&Other.x=1",
        )
        .unwrap();
        assert_eq!(input.namespace.as_deref(), Some("AWS/SageMaker"));
        assert_eq!(input.period, Some(60));
        assert_eq!(input.start_time, Timestamp::parse_iso8601("2026-12-06T19:00:00Z"));
        assert_eq!(input.end_time.unwrap().as_millis(), 1_796_585_460_500);
        assert_eq!(input.statistics, Some(vec![Statistic::Average, Statistic::Sum]));
        let dims = input.dimensions.unwrap();
        assert_eq!((dims[0].name.as_deref(), dims[0].value.as_deref()), (Some("EndpointName"), Some("ep")));
        assert_eq!(input.unit, Some(StandardUnit::Count));
    }

    #[test]
    fn reads_maps_booleans_and_doubles() {
        let input: PutMetricDataInput = decode(
            "Namespace=ns&StrictEntityValidation=true\
             &EntityMetricData.member.1.Entity.KeyAttributes.entry.1.key=Type\
             &EntityMetricData.member.1.Entity.KeyAttributes.entry.1.value=Service\
             &MetricData.member.1.MetricName=m&MetricData.member.1.Value=1.5\
             &MetricData.member.1.Values.member.1=2&MetricData.member.1.Values.member.2=1e-3",
        )
        .unwrap();
        assert_eq!(input.strict_entity_validation, Some(true));
        let entity = input.entity_metric_data.unwrap().remove(0).entity.unwrap();
        assert_eq!(entity.key_attributes.unwrap().get("Type").map(String::as_str), Some("Service"));
        let datum = input.metric_data.unwrap().remove(0);
        assert_eq!(datum.value, Some(1.5));
        assert_eq!(datum.values, Some(vec![2.0, 0.001]));
    }

    #[test]
    fn an_empty_list_is_a_bare_name_and_a_list_with_a_value_is_refused() {
        let input: GetMetricStatisticsInput = decode("Dimensions=").unwrap();
        assert_eq!(input.dimensions, Some(vec![]));
        let err = decode::<GetMetricStatisticsInput>("Statistics=Sum").unwrap_err();
        assert_eq!(err, QueryError::Parameter("Parameter Statistics is a list: send Statistics.member.1=...".into()));
    }

    #[test]
    fn values_of_the_wrong_type_name_the_parameter() {
        let err = decode::<GetMetricStatisticsInput>("Period=sixty").unwrap_err();
        assert_eq!(err.to_string(), "The value sixty for parameter Period is invalid.");
        let err = decode::<GetMetricStatisticsInput>("Dimensions.member.1.Name=a&StartTime=yesterday").unwrap_err();
        assert_eq!(err, QueryError::Value { parameter: "StartTime".into(), value: "yesterday".into() });
        let err = decode::<PutMetricDataInput>("MetricData.member.2.StorageResolution=x").unwrap_err();
        assert_eq!(
            err,
            QueryError::Value { parameter: "MetricData.member.2.StorageResolution".into(), value: "x".into() }
        );
        let err = decode::<PutMetricDataInput>("StrictEntityValidation=yes").unwrap_err();
        assert!(matches!(err, QueryError::Value { .. }), "{err}");
        let err =
            decode::<PutMetricDataInput>("EntityMetricData.member.1.Entity.KeyAttributes.entry.1.key=a").unwrap_err();
        assert!(matches!(err, QueryError::Parameter(_)), "{err}");
    }

    #[test]
    fn a_sparse_index_allocates_one_item() {
        let input: GetMetricStatisticsInput = decode("Statistics.member.99999=Sum").unwrap();
        assert_eq!(input.statistics, Some(vec![Statistic::Sum]));
        assert!(matches!(
            decode::<GetMetricStatisticsInput>("Statistics.member.999999999=Sum"),
            Err(QueryError::Parameter(_))
        ));
    }
}
