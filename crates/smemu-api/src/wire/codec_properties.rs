//! Property tests of CloudWatch's CBOR and query codecs (`cbor`, `query`) with the generated
//! shapes: what is encoded decodes to the same shape, and any bytes are decoded or refused, never
//! a panic, a stack overflow or an allocation sized by a number in the input.

use proptest::prelude::*;
use serde_json::Value;
use smemu_types::Timestamp;
use smemu_types::cloudwatch::{
    Datapoint, Dimension, Entity, EntityMetricData, GetMetricDataInput, GetMetricStatisticsInput,
    GetMetricStatisticsOutput, ListMetricsInput, MetricDatum, PutMetricDataInput, StandardUnit, Statistic,
    StatisticSet,
};

use super::{cbor, query};

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn number() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("finite", |f| f.is_finite())
}

/// Millisecond times from 1970 to 2100 (the ISO 8601 form writes four-digit years).
fn timestamp() -> impl Strategy<Value = Timestamp> {
    (0i64..4_102_444_800_000).prop_map(Timestamp::from_millis)
}

fn unit() -> impl Strategy<Value = StandardUnit> {
    prop::sample::select(StandardUnit::values()).prop_map(StandardUnit::from)
}

/// Structures always have a member here: an empty one is absent from a query form (as botocore
/// sends it), so it could not round-trip.
fn dimension() -> impl Strategy<Value = Dimension> {
    (text(), prop::option::of(text())).prop_map(|(name, value)| Dimension { name: Some(name), value })
}

fn datum() -> impl Strategy<Value = MetricDatum> {
    (
        prop::option::of(prop::collection::vec(number(), 0..4)),
        prop::option::of(prop::collection::vec(dimension(), 0..3)),
        text(),
        prop::option::of((number(), number(), number(), number())),
        prop::option::of(any::<i32>()),
        prop::option::of(timestamp()),
        prop::option::of(unit()),
        prop::option::of(number()),
    )
        .prop_map(|(counts, dimensions, metric_name, stats, storage_resolution, timestamp, unit, value)| {
            MetricDatum {
                counts: counts.clone(),
                dimensions,
                metric_name: Some(metric_name),
                statistic_values: stats.map(|(maximum, minimum, sample_count, sum)| StatisticSet {
                    maximum: Some(maximum),
                    minimum: Some(minimum),
                    sample_count: Some(sample_count),
                    sum: Some(sum),
                }),
                storage_resolution,
                timestamp,
                unit,
                value,
                values: counts,
            }
        })
}

fn put_metric_data() -> impl Strategy<Value = PutMetricDataInput> {
    let attributes = || prop::collection::btree_map("[A-Za-z]{1,8}", text(), 1..3);
    let entity = (prop::option::of(attributes()), attributes())
        .prop_map(|(attributes, key_attributes)| Entity { attributes, key_attributes: Some(key_attributes) });
    let entity_data = (entity, prop::option::of(prop::collection::vec(datum(), 0..2)))
        .prop_map(|(entity, metric_data)| EntityMetricData { entity: Some(entity), metric_data });
    (
        prop::option::of(prop::collection::vec(entity_data, 0..2)),
        prop::option::of(prop::collection::vec(datum(), 0..3)),
        prop::option::of(text()),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(entity_metric_data, metric_data, namespace, strict_entity_validation)| PutMetricDataInput {
            entity_metric_data,
            metric_data,
            namespace,
            strict_entity_validation,
        })
}

fn get_metric_statistics() -> impl Strategy<Value = GetMetricStatisticsInput> {
    (
        prop::option::of(prop::collection::vec(dimension(), 0..3)),
        prop::option::of(timestamp()),
        prop::option::of(prop::collection::vec(text(), 0..3)),
        prop::option::of(text()),
        prop::option::of(any::<i32>()),
        prop::option::of(timestamp()),
        prop::option::of(prop::collection::vec(
            prop::sample::select(Statistic::values()).prop_map(Statistic::from),
            0..3,
        )),
        prop::option::of(unit()),
    )
        .prop_map(
            |(dimensions, end_time, extended_statistics, metric_name, period, start_time, statistics, unit)| {
                GetMetricStatisticsInput {
                    dimensions,
                    end_time,
                    extended_statistics,
                    metric_name: metric_name.clone(),
                    namespace: metric_name,
                    period,
                    start_time,
                    statistics,
                    unit,
                }
            },
        )
}

fn statistics_output() -> impl Strategy<Value = GetMetricStatisticsOutput> {
    let point = (
        prop::option::of(number()),
        prop::option::of(prop::collection::btree_map("p[0-9]{1,2}", number(), 0..3)),
        prop::option::of(timestamp()),
        prop::option::of(unit()),
    )
        .prop_map(|(sum, extended_statistics, timestamp, unit)| Datapoint {
            average: sum,
            extended_statistics,
            maximum: sum,
            minimum: None,
            sample_count: sum.map(f64::abs),
            sum,
            timestamp,
            unit,
        });
    (prop::option::of(prop::collection::vec(point, 0..4)), prop::option::of(text()))
        .prop_map(|(datapoints, label)| GetMetricStatisticsOutput { datapoints, label })
}

/// An input shape as the query parameters botocore's serializer sends for it (written here from
/// its JSON form: the maps are `entry.N.key`/`.value`, the timestamps ISO 8601).
fn to_form(shape: &impl serde::Serialize) -> String {
    fn walk(value: &Value, name: &str, member: &str, out: &mut Vec<(String, String)>) {
        let at = |segment: &str| if name.is_empty() { segment.to_owned() } else { format!("{name}.{segment}") };
        match value {
            Value::Object(members) if matches!(member, "Attributes" | "KeyAttributes") => {
                for (i, (key, item)) in members.iter().enumerate() {
                    out.push((at(&format!("entry.{}.key", i + 1)), key.clone()));
                    walk(item, &at(&format!("entry.{}.value", i + 1)), "", out);
                }
            }
            Value::Object(members) => {
                for (key, item) in members {
                    walk(item, &at(key), key, out);
                }
            }
            Value::Array(items) if items.is_empty() => out.push((name.to_owned(), String::new())),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &at(&format!("member.{}", i + 1)), member, out);
                }
            }
            Value::Number(n) if matches!(member, "Timestamp" | "StartTime" | "EndTime") => {
                let at = Timestamp::from_secs_f64(n.as_f64().unwrap());
                out.push((name.to_owned(), at.to_iso8601()));
            }
            Value::Number(n) => out.push((name.to_owned(), n.to_string())),
            Value::String(s) => out.push((name.to_owned(), s.clone())),
            Value::Bool(b) => out.push((name.to_owned(), b.to_string())),
            Value::Null => {}
        }
    }
    let mut pairs = Vec::new();
    walk(&serde_json::to_value(shape).unwrap(), "", "", &mut pairs);
    let mut form = String::from("Action=X&Version=2010-08-01");
    for (name, value) in pairs {
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
        form.push_str(&format!("&{}={}", enc(&name), enc(&value)));
    }
    form
}

fn from_form<T: serde::de::DeserializeOwned>(form: &str) -> Result<T, query::QueryError> {
    let mut params = query::Params::parse(form.as_bytes())?;
    params.take("Action");
    params.take("Version");
    query::from_params(&params)
}

/// Decodes `body` as each CloudWatch input in both codecs (as a form, when it is one).
fn decode_all(body: &[u8]) {
    fn one<I: serde::de::DeserializeOwned>(body: &[u8]) {
        let _ = cbor::from_slice::<I>(body);
        if let Ok(params) = query::Params::parse(body) {
            let _ = query::from_params::<I>(&params);
        }
    }
    one::<PutMetricDataInput>(body);
    one::<GetMetricStatisticsInput>(body);
    one::<GetMetricDataInput>(body);
    one::<ListMetricsInput>(body);
}

/// Parameter names made of the segments the shapes use, positions included.
fn form_name() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just("MetricData".to_owned()),
        Just("Dimensions".to_owned()),
        Just("member".to_owned()),
        Just("entry".to_owned()),
        Just("key".to_owned()),
        Just("value".to_owned()),
        Just("Value".to_owned()),
        Just("Timestamp".to_owned()),
        Just("EntityMetricData".to_owned()),
        Just("Entity".to_owned()),
        Just("KeyAttributes".to_owned()),
        "[0-9]{1,10}",
        "[A-Za-z]{1,6}",
    ];
    prop::collection::vec(segment, 1..8).prop_map(|segments| segments.join("."))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn cbor_round_trips_inputs(input in put_metric_data()) {
        let bytes = cbor::to_vec(&input).unwrap();
        prop_assert_eq!(cbor::from_slice::<PutMetricDataInput>(&bytes).unwrap(), input);
    }

    #[test]
    fn cbor_round_trips_outputs(output in statistics_output(), input in get_metric_statistics()) {
        let bytes = cbor::to_vec(&output).unwrap();
        prop_assert_eq!(cbor::from_slice::<GetMetricStatisticsOutput>(&bytes).unwrap(), output);
        let bytes = cbor::to_vec(&input).unwrap();
        prop_assert_eq!(cbor::from_slice::<GetMetricStatisticsInput>(&bytes).unwrap(), input);
    }

    #[test]
    fn query_forms_decode_to_the_shape_they_were_written_from(
        put in put_metric_data(),
        get in get_metric_statistics(),
    ) {
        prop_assert_eq!(from_form::<PutMetricDataInput>(&to_form(&put)).unwrap(), put);
        prop_assert_eq!(from_form::<GetMetricStatisticsInput>(&to_form(&get)).unwrap(), get);
    }

    #[test]
    fn xml_answers_are_balanced(output in statistics_output()) {
        let xml = query::to_xml(&output).unwrap();
        prop_assert_eq!(xml.matches("<member>").count(), xml.matches("</member>").count());
        prop_assert_eq!(xml.matches('<').count(), xml.matches('>').count());
    }

    #[test]
    fn any_bytes_decode_or_are_refused(body in prop::collection::vec(any::<u8>(), 0..400)) {
        decode_all(&body);
    }

    #[test]
    fn any_form_of_known_names_decodes_or_is_refused(
        pairs in prop::collection::vec((form_name(), "[0-9a-zA-Z.:-]{0,12}"), 0..12),
    ) {
        let form: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v}")).collect();
        decode_all(form.join("&").as_bytes());
    }

    #[test]
    fn any_cbor_prefix_of_a_valid_body_is_refused(input in put_metric_data(), cut in 0usize..400) {
        let bytes = cbor::to_vec(&input).unwrap();
        if cut < bytes.len() {
            prop_assert!(cbor::from_slice::<PutMetricDataInput>(&bytes[..cut]).is_err() || cut == 0);
        }
    }

    #[test]
    fn cbor_nesting_past_the_bound_is_refused(depth in 0usize..20_000) {
        // {"X": [[[...[]]]]} under a member the shape does not have (skipped, still bounded): the
        // map and depth + 1 arrays.
        let mut body = vec![0xa1, 0x61, b'X'];
        body.extend(std::iter::repeat_n(0x81, depth));
        body.push(0x80);
        let result = cbor::from_slice::<PutMetricDataInput>(&body);
        if depth + 2 > cbor::MAX_DEPTH {
            prop_assert!(matches!(result, Err(cbor::CborError::TooDeep)));
        } else {
            prop_assert_eq!(result.unwrap(), PutMetricDataInput::default());
        }
    }

    #[test]
    fn a_position_is_one_item_and_a_huge_one_is_refused(
        index in prop_oneof![1u32..=query::MAX_INDEX, query::MAX_INDEX + 1..=u32::MAX],
    ) {
        let form = format!("Action=X&Dimensions.member.{index}.Name=n");
        let result = from_form::<GetMetricStatisticsInput>(&form);
        if index <= query::MAX_INDEX {
            prop_assert_eq!(result.unwrap().dimensions.map(|d| d.len()), Some(1));
        } else {
            prop_assert!(matches!(result, Err(query::QueryError::Parameter(_))));
        }
    }

    #[test]
    fn query_nesting_past_the_bound_is_refused(depth in 1usize..200) {
        let name = vec!["A"; depth].join(".");
        let result = query::Params::parse(format!("{name}=1").as_bytes());
        prop_assert_eq!(result.is_err(), depth > query::MAX_DEPTH);
    }
}
