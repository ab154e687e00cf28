//! Search and supernets: the host-side learning half of moga. Supernet training and
//! evaluation run on libtorch through `tch` (CUDA when a GPU is present, CPU
//! otherwise); the evolutionary multi-objective search reads latencies from
//! `lookup-tables`.

#![warn(missing_docs)]

pub mod torch;
