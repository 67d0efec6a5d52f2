//! Reading a plugin's answer: the whole output is decoded and checked against the descriptor
//! and the state quota before any of it is applied.

use super::operator::{FailureKind, OperatorFailure};
use super::KeyWork;
use live_shopper_abi::{Descriptor, EmissionOut, FeatureValue, KeyOutput, OutputReader, StateOp};

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
            let Some(group) = descriptor.groups.get(e.group as usize) else {
                return Err(bad(format!("emission for group {} which the plugin does not declare", e.group)));
            };
            if e.values.len() != group.features.len() {
                return Err(bad(format!(
                    "group {:?} emitted {} values for {} features",
                    group.name,
                    e.values.len(),
                    group.features.len()
                )));
            }
        }
        outs.push(out);
    }
    Ok((outs, emissions, values))
}
