//! Survey jobs in the worker (image sets, dataset examples, atlases, export and import): one
//! long job at a time (a newer one cancels it), a unit's examples beside it; what they compute
//! stays in one [`SurveyStore`] for the worker's life. URLs are fetched with the worker's
//! `fetch`.

use super::*;
use crate::protocol::SurveyTask;
use crate::survey_jobs::{self, Fetcher, SurveyStore};

thread_local! {
    static STORE: Rc<RefCell<SurveyStore>> = Rc::new(RefCell::new(SurveyStore::default()));
    /// The long job asked for last.
    static LATEST: Cell<Option<JobId>> = const { Cell::new(None) };
    /// Whether a long job runs.
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

/// Starts a survey job.
pub(super) fn start(state: &Rc<State>, job: JobId, task: SurveyTask) {
    if task.is_long() {
        if let Some(previous) = LATEST.with(|l| l.replace(Some(job))) {
            state.cancelled.borrow_mut().insert(previous);
        }
        let state = state.clone();
        spawn_local(async move {
            // One long job at a time: the one running was cancelled and stops at its next
            // step.
            while BUSY.with(Cell::get) {
                next_macrotask().await;
            }
            BUSY.with(|b| b.set(true));
            run(state, job, task).await;
            BUSY.with(|b| b.set(false));
        });
    } else {
        spawn_local(run(state.clone(), job, task));
    }
}

async fn run(state: Rc<State>, job: JobId, task: SurveyTask) {
    let host = WorkerHost {
        state: state.clone(),
        defer_to_renders: false,
    };
    let store = STORE.with(Rc::clone);
    if state.is_cancelled(job) {
        state.post(&Response::Cancelled { job, step: 0 });
    } else {
        match state.current() {
            None => state.post(&Response::Error {
                job: Some(job),
                message: "no model is loaded".into(),
            }),
            Some(AnyEngine::Cpu(e)) => survey_jobs::run(&e, &store, job, task, &host).await,
            #[cfg(feature = "webgpu")]
            Some(AnyEngine::Gpu(e)) => survey_jobs::run(&e, &store, job, task, &host).await,
        }
    }
    state.cancelled.borrow_mut().remove(&job);
}

impl Fetcher for WorkerHost {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        let response: web_sys::Response = JsFuture::from(scope.fetch_with_str(url))
            .await
            .map_err(|e| {
                format!(
                    "{} (the address may be wrong, the server down, or it does not let other \
                     sites read the file: CORS)",
                    describe(&e)
                )
            })?
            .unchecked_into();
        if !response.ok() {
            let text = response.status_text();
            return Err(format!(
                "the server answered {}{}{}",
                response.status(),
                if text.is_empty() { "" } else { " " },
                text
            ));
        }
        let buffer = JsFuture::from(response.array_buffer().map_err(|e| describe(&e))?)
            .await
            .map_err(|e| describe(&e))?;
        Ok(Uint8Array::new(&buffer).to_vec())
    }
}
