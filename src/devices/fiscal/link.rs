//! The HTTP client of the ATOL ДТО 10 web server: submit a task, read its result, wait until
//! it is final, and the recovery round trips. The only I/O of the fiscal path; every decision
//! is made by the pure [`atol`](super::atol) and [`recovery`](super::recovery) code it calls.
//!
//! Transport failures are told apart because they mean different things to the lane:
//! `Refused` (nothing reached the web server: it is not running), `Timeout` and `Dropped` (the
//! request may or may not have arrived), `ServerError` (5xx), `NotJson` (something else
//! answers on the port), `UuidReused` (409: the web server already has a task with that uuid).
//! After any failure of [`AtolLink::submit`] other than bad input, the lane goes through
//! [`AtolLink::recover`] before it sends anything again.

use super::FiscalInputError;
use super::atol::{self, AnswerError, ArchivedDocument, FnCounters, RegisterError, Task, TaskAnswer};
use super::recovery::{self, Decision, Observation, PendingTask};
use reqwest::StatusCode;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// How to reach the web server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSettings {
    /// `host:port`, by default [`atol::DEFAULT_ADDRESS`].
    pub address: String,
    /// Longest wait for one HTTP exchange (not for the register's work: that is polled).
    pub request_timeout: Duration,
    /// Pause between two polls of a task still in progress.
    pub poll_every: Duration,
}

impl Default for LinkSettings {
    fn default() -> LinkSettings {
        LinkSettings {
            address: atol::DEFAULT_ADDRESS.to_string(),
            request_timeout: Duration::from_secs(5),
            poll_every: Duration::from_millis(250),
        }
    }
}

/// Why a round trip to the web server gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error(
        "Нет связи с веб-сервером драйвера ККТ ({address}): он не запущен или недоступен. Продажа ждёт; проверьте службу веб-сервера ДТО."
    )]
    Refused { address: String },
    #[error("Веб-сервер драйвера ККТ ({address}) не ответил вовремя. storeterm проверит, выполнено ли задание, прежде чем повторять.")]
    Timeout { address: String },
    #[error(
        "Соединение с веб-сервером драйвера ККТ ({address}) оборвалось ({detail}). storeterm проверит, выполнено ли задание, прежде чем повторять."
    )]
    Dropped { address: String, detail: String },
    #[error("Веб-сервер драйвера ККТ ответил ошибкой {status}: {detail}")]
    ServerError { status: u16, detail: String },
    #[error("По адресу веб-сервера ККТ отвечает что-то другое (ответ {status} не JSON): {detail}. Проверьте адрес и порт в настройках.")]
    NotJson { status: u16, detail: String },
    #[error("Веб-сервер ККТ уже знает задание {uuid} (409): оно не отправлено второй раз.")]
    UuidReused { uuid: Uuid },
    #[error("Веб-сервер ККТ отклонил запрос ({status}): {detail}")]
    Rejected { status: u16, detail: String },
    #[error("Непонятный ответ веб-сервера ККТ: {0}")]
    Answer(#[from] AnswerError),
    #[error("Касса не ответила за отведённое время: задание {uuid} ещё выполняется.")]
    StillRunning { uuid: Uuid },
    #[error("Веб-сервер ККТ забыл задание {uuid}, пока storeterm ждал ответа.")]
    Forgotten { uuid: Uuid },
    #[error(transparent)]
    Register(#[from] RegisterError),
    #[error(transparent)]
    Input(#[from] FiscalInputError),
}

impl LinkError {
    /// The stable code the API and screens use.
    pub fn code(&self) -> &'static str {
        match self {
            LinkError::Refused { .. } => "atol_unreachable",
            LinkError::Timeout { .. } => "atol_timeout",
            LinkError::Dropped { .. } => "atol_dropped",
            LinkError::ServerError { .. } => "atol_server_error",
            LinkError::NotJson { .. } => "atol_not_json",
            LinkError::UuidReused { .. } => "atol_uuid_reused",
            LinkError::Rejected { .. } => "atol_rejected",
            LinkError::Answer(e) => e.code(),
            LinkError::StillRunning { .. } => "atol_still_running",
            LinkError::Forgotten { .. } => "atol_forgotten",
            LinkError::Register(e) => e.code(),
            LinkError::Input(e) => e.code(),
        }
    }
}

/// How a wait for a task ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Polled {
    /// Every task of the request reached a status that will not change by itself.
    Final(TaskAnswer),
    /// The web server answered 404 for the uuid.
    Unknown,
}

/// The register's last document as recovery needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastDocument {
    pub counters: FnCounters,
    pub document: Option<ArchivedDocument>,
    pub shift: Option<u32>,
}

/// A client of one web server (one register).
#[derive(Clone)]
pub struct AtolLink {
    http: reqwest::Client,
    base: String,
    address: String,
    poll_every: Duration,
}

impl AtolLink {
    pub fn new(settings: &LinkSettings) -> Result<AtolLink, LinkError> {
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout)
            // No idle connections kept: after the web server restarts, a pooled connection
            // would fail the next request for nothing. On loopback a fresh connect is free.
            .pool_max_idle_per_host(0)
            .user_agent(concat!("storeterm/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LinkError::Dropped {
                address: settings.address.clone(),
                detail: e.to_string(),
            })?;
        Ok(AtolLink {
            http,
            base: format!("http://{}", settings.address),
            address: settings.address.clone(),
            poll_every: settings.poll_every,
        })
    }

    fn transport(&self, e: reqwest::Error) -> LinkError {
        let address = self.address.clone();
        if e.is_connect() {
            LinkError::Refused { address }
        } else if e.is_timeout() {
            LinkError::Timeout { address }
        } else {
            LinkError::Dropped {
                address,
                detail: e.to_string(),
            }
        }
    }

    /// `POST /api/v2/requests`: queue `tasks` under `uuid`. `Ok` means the web server took
    /// them; the register works on them after.
    pub async fn submit(&self, uuid: Uuid, tasks: &[Task<'_>]) -> Result<(), LinkError> {
        let body = atol::request_body(uuid, tasks)?;
        let response = self
            .http
            .post(format!("{}/api/v2/requests", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
        match status {
            s if s.is_success() => Ok(()),
            StatusCode::CONFLICT => Err(LinkError::UuidReused { uuid }),
            s if s.is_server_error() => Err(LinkError::ServerError {
                status: s.as_u16(),
                detail: atol::refusal_text(&bytes),
            }),
            s => Err(LinkError::Rejected {
                status: s.as_u16(),
                detail: atol::refusal_text(&bytes),
            }),
        }
    }

    /// `GET /api/v2/requests/{uuid}`: where the task is now; `None` when the web server does
    /// not know the uuid (404).
    pub async fn result(&self, uuid: Uuid) -> Result<Option<TaskAnswer>, LinkError> {
        let response = self
            .http
            .get(format!("{}/api/v2/requests/{}", self.base, uuid.hyphenated()))
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
        match status {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => match atol::parse_answer(&bytes) {
                Ok(answer) => Ok(Some(answer)),
                Err(AnswerError::NotJson(_)) => Err(LinkError::NotJson {
                    status: s.as_u16(),
                    detail: atol::refusal_text(&bytes),
                }),
                Err(e) => Err(e.into()),
            },
            s if s.is_server_error() => Err(LinkError::ServerError {
                status: s.as_u16(),
                detail: atol::refusal_text(&bytes),
            }),
            s => Err(LinkError::Rejected {
                status: s.as_u16(),
                detail: atol::refusal_text(&bytes),
            }),
        }
    }

    /// Poll `uuid` until every task is final, the web server forgets it, or `deadline`
    /// passes (then [`LinkError::StillRunning`]: the task goes on, ask again later).
    pub async fn poll(&self, uuid: Uuid, deadline: Instant) -> Result<Polled, LinkError> {
        loop {
            match self.result(uuid).await? {
                None => return Ok(Polled::Unknown),
                Some(answer) if answer.is_final() => return Ok(Polled::Final(answer)),
                Some(_) => {}
            }
            if Instant::now() + self.poll_every > deadline {
                return Err(LinkError::StillRunning { uuid });
            }
            tokio::time::sleep(self.poll_every).await;
        }
    }

    /// Submit and wait: for status queries and reports, which may safely be asked twice.
    pub async fn query(&self, tasks: &[Task<'_>], deadline: Instant) -> Result<TaskAnswer, LinkError> {
        let uuid = Uuid::new_v4();
        self.submit(uuid, tasks).await?;
        match self.poll(uuid, deadline).await? {
            Polled::Final(answer) => Ok(answer),
            Polled::Unknown => Err(LinkError::Forgotten { uuid }),
        }
    }

    /// The results of a finished query, one per task, failing on the first register error.
    fn results(answer: &TaskAnswer, expected: usize) -> Result<Vec<&serde_json::Value>, LinkError> {
        if answer.results.len() != expected {
            return Err(AnswerError::Missing("results").into());
        }
        answer
            .results
            .iter()
            .map(|r| match &r.error {
                Some(e) => Err(LinkError::Register(e.clone())),
                None => Ok(&r.result),
            })
            .collect()
    }

    /// The register's last fiscal document number (`getFnStatus`): read it just before
    /// sending a fiscal task and store it in [`PendingTask::fd_before`].
    pub async fn fd_counter(&self, deadline: Instant) -> Result<FnCounters, LinkError> {
        let answer = self.query(&[Task::FnStatus], deadline).await?;
        let results = Self::results(&answer, 1)?;
        Ok(atol::fn_counters(results[0])?)
    }

    /// The register's counters and current shift number (`getFnStatus` + `getShiftStatus`).
    async fn counters_and_shift(&self, deadline: Instant) -> Result<(FnCounters, Option<u32>), LinkError> {
        let answer = self.query(&[Task::FnStatus, Task::ShiftStatus], deadline).await?;
        let results = Self::results(&answer, 2)?;
        let counters = atol::fn_counters(results[0])?;
        Ok((counters, atol::shift_status(results[1]).ok().map(|s| s.number)))
    }

    /// One document from the ФН's archive (`getFnDocument`).
    pub async fn archived(&self, fd: u64, deadline: Instant) -> Result<ArchivedDocument, LinkError> {
        let answer = self.query(&[Task::FnDocument(fd)], deadline).await?;
        let results = Self::results(&answer, 1)?;
        Ok(atol::archived_document(results[0], fd)?)
    }

    /// The register's last fiscal document (`getFnStatus` + `getShiftStatus`, then
    /// `getFnDocument` of that number), e.g. for `/admin`.
    pub async fn last_document(&self, deadline: Instant) -> Result<LastDocument, LinkError> {
        let (counters, shift) = self.counters_and_shift(deadline).await?;
        let document = match counters.last_fd {
            0 => None,
            fd => Some(self.archived(fd, deadline).await?),
        };
        Ok(LastDocument { counters, document, shift })
    }

    /// Find out what became of a pending task: ask for its uuid and, when the web server
    /// cannot tell, compare the register's last document. Sends nothing that makes a document.
    pub async fn recover(&self, pending: &PendingTask, deadline: Instant) -> Result<Decision, LinkError> {
        let answer = self.result(pending.uuid()).await?;
        let decision = match answer.as_ref().and_then(TaskAnswer::last) {
            Some(report) => recovery::decide(pending, Observation::Task(report)),
            None => recovery::decide(pending, Observation::UuidUnknown),
        };
        if decision != Decision::CheckLastDocument {
            return Ok(decision);
        }
        let (counters, shift) = self.counters_and_shift(deadline).await?;
        // The document itself matters only when exactly one appeared since `fd_before`; any
        // other count decides without it.
        let document = match pending.fd_before {
            Some(before) if counters.last_fd == before + 1 => Some(self.archived(counters.last_fd, deadline).await?),
            _ => None,
        };
        Ok(recovery::decide(
            pending,
            Observation::LastDocument {
                counters,
                document: document.as_ref(),
                shift,
            },
        ))
    }
}
