//! The library side of the `modalscope` command: the concept study that the analysis
//! subcommands (`neurons`, `lesion`, `attack`, `families`) and their tests share.

pub mod study;
