//! Round trips of the batch format: input (versions 1 and 2) and output.

use super::*;
use crate::event::{EventKind, Product};

#[test]
fn a_batch_round_trips_with_only_the_requested_fields() {
    let event = Event {
        event_id: "e1".into(),
        event_time: 1_000,
        kind: EventKind::ProductView,
        shopper_id: "s1".into(),
        user_id: Some("u1".into()),
        products: vec![Product { id: "p1".into(), price: Some(9.5), quantity: 1, ..Default::default() }],
        ..Default::default()
    };
    let fields = EventFields(EventFields::PRODUCTS);
    let mut buf = Vec::new();
    let mut w = BatchWriter::begin(&mut buf, fields, 500);
    w.key("s1", 1_000, Some(900), b"st");
    w.event(&event);
    w.event(&event);
    w.key("s2", 1_000, None, b"");
    w.finish();

    let mut r = BatchReader::new(&buf).unwrap();
    assert_eq!(r.watermark, 500);
    let mut events = Vec::new();
    let k = r.next_key(&mut events).unwrap().unwrap();
    assert_eq!((k.key, k.as_of, k.tick, k.state), ("s1", 1_000, Some(900), &b"st"[..]));
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].kind, EventKind::ProductView);
    assert_eq!(events[0].products[0].id, "p1");
    assert_eq!(events[0].user_id, None, "user_id was not requested");
    let k = r.next_key(&mut events).unwrap().unwrap();
    assert_eq!((k.key, events.len()), ("s2", 0));
    assert!(r.next_key(&mut events).unwrap().is_none());
}

#[test]
fn a_version_2_batch_carries_settings_and_self_describing_data() {
    let event = Event { event_id: "e1".into(), event_time: 1_000, ..Default::default() };
    let settings = [("min_views".to_string(), "100".to_string())];
    let header = BatchHeader {
        wire: Wire::V2,
        fields: EventFields(EventFields::EVENT_ID),
        watermark: 5,
        settings: &settings,
        self_describing: true,
    };
    let mut buf = Vec::new();
    let mut w = BatchWriter::with_header(&mut buf, &header);
    w.key("k", 1_000, None, b"");
    let entities = [(0u8, r#"{"tier":"gold"}"#), (1, "{}")];
    w.event_with(&event, SelfDescribingRefs { custom: Some((2, r#"{"sku":"p1"}"#)), entities: &entities });
    w.event(&event);
    w.finish();

    let mut r = BatchReader::new(&buf).unwrap();
    assert_eq!(r.settings, [("min_views", "100")]);
    let mut events = Vec::new();
    r.next_key(&mut events).unwrap().unwrap();
    assert_eq!(events[0].event_id, "e1");
    assert_eq!(events[0].custom_event, Some((2, r#"{"sku":"p1"}"#)));
    assert_eq!(events[0].entities, entities);
    assert_eq!(events[0].entity(0), Some(r#"{"tier":"gold"}"#));
    assert_eq!((events[1].custom_event, events[1].entities.len()), (None, 0));
    assert!(r.next_key(&mut events).unwrap().is_none());
}

#[test]
fn an_output_round_trips() {
    let mut buf = Vec::new();
    let mut w = OutputWriter::begin(&mut buf);
    w.begin_key();
    w.emission(1, false);
    w.int(-3);
    w.float(2.5);
    w.bool(true);
    w.text("x");
    w.list(["a", "b"].into_iter());
    w.list_of_parts([["G", "/", "R"], ["C", "", ""]].into_iter());
    w.end_key(Some(60_000), StateOp::Replace(b"s"));
    w.begin_key();
    w.end_key(None, StateOp::Clear);
    w.finish();

    let mut r = OutputReader::new(&buf).unwrap();
    let (mut emissions, mut values) = (Vec::new(), Vec::new());
    let k = r.next_key(&mut emissions, &mut values).unwrap().unwrap();
    assert_eq!(k.timer, Some(60_000));
    assert_eq!(k.state, StateOp::Replace(b"s"));
    assert_eq!(k.emissions, 0..1);
    let v = &values[emissions[0].values.clone()];
    assert_eq!(
        v[..4],
        [FeatureValue::Int(-3), FeatureValue::Float(2.5), FeatureValue::Bool(true), FeatureValue::Text("x")]
    );
    let FeatureValue::List(list) = v[4] else { panic!("a list") };
    assert_eq!(list.iter().collect::<Vec<_>>(), ["a", "b"]);
    let FeatureValue::List(parts) = v[5] else { panic!("a list") };
    assert_eq!(parts.iter().collect::<Vec<_>>(), ["G/R", "C"]);
    let k = r.next_key(&mut emissions, &mut values).unwrap().unwrap();
    assert_eq!((k.emissions, k.state), (1..1, StateOp::Clear));
    assert!(r.next_key(&mut emissions, &mut values).unwrap().is_none());
}
