//! Reports people read: the numbers of a run, and the files `credsim run --report DIR`, `credsim report`
//! and `credsim bench` write from them.
//!
//! * [`data`] folds trace events into [`data::ReportData`]: latency per hop and end to end (HdrHistogram,
//!   simulated milliseconds), caches, calls and errors per service, token refresh lag, credential
//!   headroom, and the same over time with the fault windows.
//! * [`charts`] draws SVG charts (plotters) and HdrHistogram percentile files from plain numbers.
//! * [`write`] lays a run's report out in a directory: `report.md` (charts first), `report.json`, SVGs,
//!   `.hgrm` files.
//! * [`trace_file`] reads a saved trace back (`credsim report TRACE --out DIR`).

pub mod charts;
pub mod data;
pub mod trace_file;
pub mod write;
