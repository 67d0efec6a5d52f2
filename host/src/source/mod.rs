//! Where events come from: files of records (replay), the built-in traffic generator, and Kafka
//! (the production source, with its dead-letter topic).

pub mod file;
pub mod generator;
pub mod kafka;
