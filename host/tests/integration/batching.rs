//! One plugin call for many keys must answer each key exactly as a call for that key alone
//! would: nothing may leak between keys of a batch (the SDK reuses one state value per call).

use live_shopper::engine::emission::CountingSink;
use live_shopper::engine::{Engine, EngineConfig, Operator};
use live_shopper::model::Event;
use live_shopper::plugin::native;
use live_shopper::source::generator::{Generator, GeneratorConfig};
use live_shopper_abi::{BatchWriter, KeyKind, OutputReader};

/// Each key's answer in `output`, rendered comparably.
fn answers(output: &[u8]) -> Vec<String> {
    let mut reader = OutputReader::new(output).unwrap();
    let (mut emissions, mut values) = (Vec::new(), Vec::new());
    let mut out = Vec::new();
    while let Some(k) = reader.next_key(&mut emissions, &mut values).unwrap() {
        let emitted: Vec<String> = emissions[k.emissions.clone()]
            .iter()
            .map(|e| format!("{}{}{:?}", e.group, e.closed, &values[e.values.clone()]))
            .collect();
        out.push(format!("{emitted:?} {:?} {:?}", k.timer, k.state));
    }
    out
}

#[test]
fn one_call_for_many_keys_equals_one_call_per_key() {
    let events: Vec<Event> =
        Generator::new(GeneratorConfig { shoppers: 60, events: 12_000, seed: 11, ..Default::default() })
            .collect();
    let (warm, probe) = events.split_at(9_000);
    let mut engine = Engine::new(
        EngineConfig::default(),
        native::default_set().into_iter().map(|op| Box::new(op) as Box<dyn Operator>).collect(),
    );
    for e in warm {
        engine.process(std::slice::from_ref(e), &mut CountingSink::default());
    }

    for mut op in native::default_set() {
        let d = op.descriptor().clone();
        let keys_of = |e: &Event| -> Vec<String> {
            match d.key {
                KeyKind::Shopper => vec![e.shopper_id.clone()],
                KeyKind::Session => e.session_id.iter().cloned().collect(),
                KeyKind::Product => {
                    let mut ids: Vec<String> = e.products.iter().map(|p| p.id.clone()).collect();
                    ids.dedup();
                    ids
                }
                ref other => {
                    panic!("the default plugins are keyed by shopper, session or product, not {other:?}")
                }
            }
        };
        // The keys the probe events touch, each with its events and its real mid-stream state.
        let mut keys: Vec<(String, Vec<&Event>)> = Vec::new();
        for e in probe.iter().filter(|e| d.event_kinds.contains(e.kind)) {
            for k in keys_of(e) {
                match keys.iter_mut().find(|(key, _)| *key == k) {
                    Some((_, evs)) => evs.push(e),
                    None => keys.push((k, vec![e])),
                }
            }
        }
        let with_state = keys.iter().filter(|(k, _)| engine.state_of(&d.name, k).is_some()).count();
        assert!(
            keys.len() >= 3 && with_state >= 2,
            "{}: {} keys, {with_state} with state",
            d.name,
            keys.len()
        );

        let write = |buf: &mut Vec<u8>, keys: &[(String, Vec<&Event>)]| {
            let mut w = BatchWriter::begin(buf, d.event_fields, 0);
            for (k, evs) in keys {
                let as_of = evs.iter().map(|e| e.event_time).max().unwrap();
                w.key(k, as_of, None, engine.state_of(&d.name, k).unwrap_or_default());
                for e in evs.iter().filter(|e| d.event_kinds.contains(e.kind)) {
                    w.event(e);
                }
            }
            w.finish();
        };
        let (mut input, mut output) = (Vec::new(), Vec::new());
        write(&mut input, &keys);
        op.process(&input, &mut output).unwrap();
        let together = answers(&output);

        let alone: Vec<String> = keys
            .chunks(1)
            .flat_map(|one| {
                write(&mut input, one);
                op.process(&input, &mut output).unwrap();
                answers(&output)
            })
            .collect();
        assert_eq!(together, alone, "{}: batching keys together changed an answer", d.name);
    }
}
