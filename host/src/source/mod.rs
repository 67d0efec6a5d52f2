//! Where events come from: files of records (replay) and the built-in traffic generator.

pub mod file;
pub mod generator;
