//! Reading a plugin's answer: the whole output is decoded and checked against the descriptor
//! and the state quota before any of it is applied; each key of a call is a [`KeyWork`].

use super::keyed_state::KeyedState;
use super::operator::{FailureKind, OperatorFailure};
use live_shopper_abi::{Descriptor, EmissionOut, FeatureValue, KeyOutput, OutputReader, StateOp};

/// One key's share of a call.
#[derive(Debug, Clone, Copy)]
pub(super) struct KeyWork {
    pub(super) slot: u32,
    pub(super) as_of: i64,
    pub(super) tick: Option<i64>,
    /// Its events: `count` entries of the runner's delivered list from `first` (none for a tick).
    pub(super) first: u32,
    pub(super) count: u32,
}

/// Refuses a whole output when any key's new state is over `limit` bytes.
pub(super) fn check_state_sizes(outputs: Outputs<'_>, limit: usize) -> Result<Outputs<'_>, OperatorFailure> {
    for out in &outputs.0 {
        if let StateOp::Replace(bytes) = &out.state {
            if bytes.len() > limit {
                return Err(OperatorFailure::new(
                    FailureKind::LimitExceeded,
                    format!("a key's state is {} bytes, over the {limit}-byte quota per key", bytes.len()),
                ));
            }
        }
    }
    Ok(outputs)
}

/// Refuses a whole output that would take the plugin's keys together over `limit` bytes.
pub(super) fn check_total_state<'o>(
    outputs: Outputs<'o>,
    work: &[KeyWork],
    state: &KeyedState,
    limit: Option<usize>,
) -> Result<Outputs<'o>, OperatorFailure> {
    let Some(limit) = limit else { return Ok(outputs) };
    let mut total = state.state_bytes() as i64;
    for (w, out) in work.iter().zip(&outputs.0) {
        let old = state.slot(w.slot).state.len() as i64;
        total += match out.state {
            StateOp::Keep => 0,
            StateOp::Clear => -old,
            StateOp::Replace(bytes) => bytes.len() as i64 - old,
        };
    }
    if total > limit as i64 {
        return Err(OperatorFailure::new(
            FailureKind::LimitExceeded,
            format!("its keys' state would total {total} bytes, over its {limit}-byte quota"),
        ));
    }
    Ok(outputs)
}

/// A call's output: per key, then the emissions and values the keys' ranges point into.
pub(super) type Outputs<'o> = (Vec<KeyOutput<'o>>, Vec<EmissionOut>, Vec<FeatureValue<'o>>);

/// Reads and checks an operator's whole output before any of it is applied.
pub(super) fn read_outputs<'o>(
    output: &'o [u8],
    work: &[KeyWork],
    descriptor: &Descriptor,
) -> Result<Outputs<'o>, OperatorFailure> {
    let bad = |m: String| OperatorFailure::new(FailureKind::BadOutput, m);
    let mut reader = OutputReader::new(output).map_err(|e| bad(format!("undecodable output: {e}")))?;
    if reader.keys() as usize != work.len() {
        return Err(bad(format!("answered {} keys, was given {}", reader.keys(), work.len())));
    }
    let mut outs = Vec::with_capacity(work.len());
    let (mut emissions, mut values) =
        (Vec::with_capacity(work.len() * 2), Vec::with_capacity(work.len() * 16));
    while let Some(out) =
        reader.next_key(&mut emissions, &mut values).map_err(|e| bad(format!("undecodable output: {e}")))?
    {
        for e in &emissions[out.emissions.clone()] {
            let index = e.group as usize;
            let (kind, name, fields) = match descriptor.groups.get(index) {
                Some(group) => ("group", &group.name, &group.features),
                None => match descriptor.signals.get(index - descriptor.groups.len()) {
                    Some(signal) => ("signal", &signal.name, &signal.fields),
                    None => {
                        return Err(bad(format!(
                            "emission for group or signal {} which the plugin does not declare",
                            e.group
                        )))
                    }
                },
            };
            if e.values.len() != fields.len() {
                return Err(bad(format!(
                    "{kind} {name:?} emitted {} values for {} fields",
                    e.values.len(),
                    fields.len()
                )));
            }
        }
        outs.push(out);
    }
    Ok((outs, emissions, values))
}
