//! The JSON shapes the decoder reads, without copying what it does not keep: object keys and string
//! members borrowed from the record, a top-level object's members left as raw values, lenient numbers
//! and ids (numbers or numeric strings, as warehouse exports write them), and the data of the
//! ecommerce entities with the checks that turn it into the event's types.

use std::borrow::Cow;
use std::fmt;

use live_shopper_abi::{Product, Refund, Transaction};
use serde::de::{self, Deserializer, MapAccess, Unexpected, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::DecodeError;

/// A JSON object key, borrowed from the record unless it contains escapes.
pub(super) struct Key<'a>(Cow<'a, str>);

impl Key<'_> {
    pub(super) fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for KeyVisitor<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor(std::marker::PhantomData))
    }
}

/// The members of a top-level JSON object, values left unparsed.
pub(super) struct Members<'a>(pub(super) Vec<(Key<'a>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(32));
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    members.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(MembersVisitor)
    }
}

/// A JSON string as text, borrowed when it has no escapes; `null`, absent and `""` are `None`.
pub(super) fn json_str<'a>(
    field: &'static str,
    raw: Option<&'a RawValue>,
) -> Result<Option<Cow<'a, str>>, DecodeError> {
    let Some(raw) = raw else { return Ok(None) };
    let json = raw.get().trim();
    let Some(inner) = json.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return match json.as_bytes().first() {
            Some(b'n') => Ok(None),
            Some(b'{') => Err(wrong_type(field, "an object")),
            Some(b'[') => Err(wrong_type(field, "an array")),
            Some(b't' | b'f') => Err(wrong_type(field, "a boolean")),
            _ => Err(wrong_type(field, "a number")),
        };
    };
    let text = if inner.contains('\\') {
        let unescaped = serde_json::from_str::<String>(json);
        Cow::Owned(unescaped.map_err(|e| DecodeError::WrongType { field, reason: e.to_string() })?)
    } else {
        Cow::Borrowed(inner)
    };
    Ok((!text.is_empty()).then_some(text))
}

fn wrong_type(field: &'static str, found: &str) -> DecodeError {
    DecodeError::WrongType { field, reason: format!("expected a string, found {found}") }
}

/// A finite number, or a string holding one (warehouse exports write `"12.0"`); `null` and `""`
/// are none.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Num(pub(super) Option<f64>);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumVisitor)
    }
}

struct NumVisitor;

impl Visitor<'_> for NumVisitor {
    type Value = Num;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number or a numeric string")
    }
    fn visit_i64<E>(self, v: i64) -> Result<Num, E> {
        Ok(Num(Some(v as f64)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Num, E> {
        Ok(Num(Some(v as f64)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
        if v.is_finite() {
            Ok(Num(Some(v)))
        } else {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
        let t = v.trim();
        if t.is_empty() {
            return Ok(Num(None));
        }
        match t.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Num(Some(x))),
            _ => Err(E::invalid_value(Unexpected::Str(v), &self)),
        }
    }
    fn visit_unit<E>(self) -> Result<Num, E> {
        Ok(Num(None))
    }
    fn visit_none<E>(self) -> Result<Num, E> {
        Ok(Num(None))
    }
}

/// An identifier: a string, or an integer written as a number; `null` and `""` are none.
#[derive(Debug, Default)]
pub(super) struct Id(pub(super) Option<String>);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IdVisitor)
    }
}

struct IdVisitor;

impl Visitor<'_> for IdVisitor {
    type Value = Id;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or an integer")
    }
    fn visit_str<E>(self, v: &str) -> Result<Id, E> {
        Ok(Id((!v.is_empty()).then(|| v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Id, E> {
        Ok(Id((!v.is_empty()).then_some(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Id, E> {
        Ok(Id(Some(v.to_string())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Id, E> {
        Ok(Id(Some(v.to_string())))
    }
    fn visit_unit<E>(self) -> Result<Id, E> {
        Ok(Id(None))
    }
    fn visit_none<E>(self) -> Result<Id, E> {
        Ok(Id(None))
    }
}

/// A whole number from 0 to `u32::MAX`.
pub(super) fn whole(field: &str, n: Num) -> Result<Option<u32>, String> {
    match n.0 {
        None => Ok(None),
        Some(x) if (0.0..=f64::from(u32::MAX)).contains(&x) && x.fract() == 0.0 => Ok(Some(x as u32)),
        Some(x) => Err(format!("{field} {x} is not a whole number from 0 to {}", u32::MAX)),
    }
}

/// An empty string is none.
pub(super) fn text(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ProductData {
    id: Id,
    name: Option<String>,
    category: Option<String>,
    brand: Option<String>,
    price: Num,
    quantity: Num,
    currency: Option<String>,
}

impl ProductData {
    /// `None` for an empty object (the Live Shopper JSON writes `"product": {}` for none).
    pub(super) fn into_product(self) -> Result<Option<Product>, String> {
        let quantity = whole("quantity", self.quantity)?;
        let (name, category, brand, currency) =
            (text(self.name), text(self.category), text(self.brand), text(self.currency));
        let Some(id) = self.id.0 else {
            let empty = name.is_none() && category.is_none() && brand.is_none() && currency.is_none();
            return if empty && self.price.0.is_none() && quantity.is_none() {
                Ok(None)
            } else {
                Err("product without id".to_owned())
            };
        };
        let quantity = quantity.unwrap_or(1);
        Ok(Some(Product { id, name, category, brand, price: self.price.0, quantity, currency }))
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct CartData {
    pub(super) total_value: Num,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct CheckoutStepData {
    pub(super) step: Num,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct TransactionData {
    transaction_id: Id,
    revenue: Num,
    currency: Option<String>,
    total_quantity: Num,
}

impl TransactionData {
    pub(super) fn into_transaction(self) -> Result<Option<Transaction>, String> {
        let total_quantity = whole("total_quantity", self.total_quantity)?;
        let currency = text(self.currency);
        match (self.transaction_id.0, self.revenue.0) {
            (Some(id), Some(revenue)) => Ok(Some(Transaction { id, revenue, currency, total_quantity })),
            (None, None) if currency.is_none() && total_quantity.is_none() => Ok(None),
            (None, _) => Err("transaction without transaction_id".to_owned()),
            (Some(_), None) => Err("transaction without revenue".to_owned()),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RefundData {
    transaction_id: Id,
    refund_amount: Num,
}

impl RefundData {
    pub(super) fn into_refund(self) -> Result<Option<Refund>, String> {
        match (self.transaction_id.0, self.refund_amount.0) {
            (Some(transaction_id), Some(amount)) => Ok(Some(Refund { transaction_id, amount })),
            (None, None) => Ok(None),
            (None, _) => Err("refund without transaction_id".to_owned()),
            (Some(_), None) => Err("refund without refund_amount".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_numbers_and_ids() {
        let num = |s: &str| serde_json::from_str::<Num>(s).map(|n| n.0).map_err(|e| e.to_string());
        assert_eq!(num("12.5"), Ok(Some(12.5)));
        assert_eq!(num("-3"), Ok(Some(-3.0)));
        assert_eq!(num(r#""12.0""#), Ok(Some(12.0)));
        assert_eq!(num(r#"" 7 ""#), Ok(Some(7.0)));
        assert_eq!((num("null"), num(r#""""#)), (Ok(None), Ok(None)));
        for bad in [r#""NaN""#, r#""inf""#, r#""12 EUR""#, "true", "[1]", "{}"] {
            assert!(num(bad).unwrap_err().contains("expected a number or a numeric string"), "{bad}");
        }
        let id = |s: &str| serde_json::from_str::<Id>(s).map(|n| n.0).map_err(|e| e.to_string());
        assert_eq!(id(r#""abc""#), Ok(Some("abc".to_owned())));
        assert_eq!(id("1236"), Ok(Some("1236".to_owned())));
        assert_eq!((id("null"), id(r#""""#)), (Ok(None), Ok(None)));
        assert!(id("true").unwrap_err().contains("expected a string or an integer"));
        assert!(id("1.5").is_err());
        assert_eq!(whole("q", Num(Some(3.0))), Ok(Some(3)));
        assert_eq!(whole("q", Num(None)), Ok(None));
        assert!(whole("q", Num(Some(-1.0))).unwrap_err().starts_with("q -1 is not a whole number"));
        assert!(whole("q", Num(Some(1.5))).is_err());
        assert!(whole("q", Num(Some(5e9))).is_err());
    }

    #[test]
    fn strings_borrow_unless_escaped() {
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        let (plain, escaped) = (raw(r#""a/b""#), raw(r#""a\/b\u00e9""#));
        assert!(matches!(json_str("f", Some(&plain)), Ok(Some(Cow::Borrowed("a/b")))));
        assert_eq!(json_str("f", Some(&escaped)).unwrap().as_deref(), Some("a/bé"));
        assert_eq!(json_str("f", Some(&raw("null"))), Ok(None));
        assert_eq!(json_str("f", Some(&raw(r#""""#))), Ok(None));
        assert_eq!(json_str("f", None), Ok(None));
        let err = json_str("f", Some(&raw("[1]"))).unwrap_err();
        assert_eq!(err.to_string(), "wrong type in f: expected a string, found an array");
    }
}
