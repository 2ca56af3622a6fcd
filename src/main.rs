//! The `orgplan` binary: parse the arguments, run, map the outcome to an exit code.

use clap::Parser;

// The command line and the hidden synthetic-org generator are the binary's; the library
// (`orgplan::…`) is the pipeline. The binary's modules name the library's modules as
// `crate::NAME` through the imports below, so `tests/it/layers.rs` checks them with the
// same rule: they sit above every pipeline module.
mod cli;
mod synth;

use orgplan::{
    apply, diag, diff, explain, export, live, load, model, plan, policytest, pool, provider,
    resolve, review, validate,
};

// Loading a large org allocates millions of small strings and maps; mimalloc does that
// faster than glibc's malloc and, with the files parsed on several threads, without the
// per-thread arenas that left a third more memory resident. Built without transparent huge
// pages (`no_thp`): a 2 MiB page counts whole once touched, and they cost a 100k-user
// plan about 35 MB more for no measurable gain in speed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Rust ignores SIGPIPE, so `orgplan plan | head` would end in a "Broken pipe" error;
    // like other Unix tools, stop quietly when the reader has gone.
    #[cfg(unix)]
    // SAFETY: called first thing, before any other thread exists; resets one signal to
    // its default disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    orgplan::pool::on_give_back(give_back_freed_memory);
    // A usage error must not exit 2: `plan --detailed-exitcode` uses 2 for "changes
    // found", and CI would read a mistyped flag as a pending change. It is a failure (1).
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return std::process::ExitCode::from(if error.use_stderr() {
                cli::Exit::Failure as u8
            } else {
                cli::Exit::Success as u8
            });
        }
    };
    // The YAML tree of a hostile file can be deep; a large stack keeps its drop from
    // overflowing before the depth check has reported it.
    let worker = std::thread::Builder::new()
        .stack_size(orgplan::pool::WORKER_STACK_BYTES)
        .spawn(move || cli::run(cli));
    match worker.map(|handle| handle.join()) {
        Ok(Ok(exit)) => std::process::ExitCode::from(exit as u8),
        _ => std::process::ExitCode::from(cli::Exit::Failure as u8),
    }
}

// A thread that is done (a worker of the pool, the reader of a live file): what it freed
// goes back to the system now. mimalloc keeps a finished thread's freed pages for a
// while, and at 100,000 users they are about 15 MB of the plan's peak (the parser's
// buffers and scratch, the live file's text) while the main thread goes on to allocate
// new pages for the merge and the rules. Measured: median peak 180 → 163 MB, no change in
// CPU time beyond the noise.
fn give_back_freed_memory() {
    // SAFETY: `mi_collect` has no precondition: it frees and purges the calling thread's
    // pages that hold nothing, and touches no live allocation.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
