//! The threads that compute password hashes, apart from the async runtime.
//!
//! argon2id at OWASP parameters takes a core and 19 MiB for tens of milliseconds. Run on tokio's
//! blocking pool (up to 512 threads, each with its own allocator arena) a burst of sign-ins took
//! every core from the requests and left hundreds of MiB behind. Here a fixed number of threads
//! (by default one fewer than the cores, so requests always keep one) take jobs from a bounded
//! queue; a job that finds the queue full is refused at once ([`PoolError::Busy`]) instead of
//! waiting without end. Each thread owns one argon2 memory buffer and reuses it for every hash,
//! so hashing memory is `threads × 19 MiB`, allocated once, whatever the load.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

use argon2::Block;

/// A worker's argon2 memory, kept between jobs.
#[derive(Default)]
pub struct HashMemory(Vec<Block>);

impl HashMemory {
    /// At least `blocks` blocks (1 KiB each); grows only for a larger cost than seen before.
    pub fn blocks(&mut self, blocks: usize) -> &mut [Block] {
        if self.0.len() < blocks {
            self.0 = vec![Block::default(); blocks];
        }
        &mut self.0[..blocks]
    }
}

type Job = Box<dyn FnOnce(&mut HashMemory) + Send>;

#[derive(Debug, PartialEq, Eq)]
pub enum PoolError {
    /// Every worker is busy and the queue is full.
    Busy,
    /// The job could not run to its end (a worker panicked, or the pool is gone).
    Failed,
}

/// A fixed set of threads with a bounded queue. Cloning shares the pool; the threads end when
/// the last clone is dropped and the queue has drained.
#[derive(Clone)]
pub struct HashPool {
    queue: SyncSender<Job>,
    gauges: Arc<Gauges>,
    threads: usize,
    capacity: usize,
}

#[derive(Default)]
struct Gauges {
    waiting: AtomicUsize,
    running: AtomicUsize,
    most_running: AtomicUsize,
    refused: AtomicUsize,
}

impl HashPool {
    /// `threads` workers (at least one) and room for `queue` jobs waiting for one.
    pub fn new(threads: usize, queue: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        // A rendezvous channel for `queue = 0`: a job is taken only by an idle worker.
        let (sender, receiver) = sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        let gauges = Arc::new(Gauges::default());
        for n in 0..threads {
            let receiver = receiver.clone();
            let gauges = gauges.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{n}"))
                .spawn(move || work(&receiver, &gauges))?;
        }
        Ok(Self {
            queue: sender,
            gauges,
            threads,
            capacity: queue,
        })
    }

    /// Threads from the machine: one fewer than the cores the process may use, at least one.
    pub fn default_threads() -> usize {
        std::thread::available_parallelism().map_or(1, |cores| cores.get().saturating_sub(1).max(1))
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    pub fn queue_capacity(&self) -> usize {
        self.capacity
    }

    /// Jobs in the queue, not yet taken by a worker.
    pub fn waiting(&self) -> usize {
        self.gauges.waiting.load(Ordering::SeqCst)
    }

    /// Jobs refused because the queue was full, since the pool started.
    pub fn refused(&self) -> usize {
        self.gauges.refused.load(Ordering::SeqCst)
    }

    /// The most jobs that have run at the same moment since the pool started.
    pub fn most_running(&self) -> usize {
        self.gauges.most_running.load(Ordering::Relaxed)
    }

    /// Runs `job` on a worker with that worker's memory. Answers [`PoolError::Busy`] at once
    /// when the queue is full. If the caller stops waiting before a worker takes the job, the
    /// job is skipped.
    pub async fn run<T, F>(&self, job: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce(&mut HashMemory) -> T + Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        self.submit(Box::new(move |memory| {
            if !done.is_closed() {
                let _ = done.send(job(memory));
            }
        }))?;
        result.await.map_err(|_| PoolError::Failed)
    }

    /// [`run`](Self::run), waiting on the calling thread (start-up, outside any request).
    pub fn run_blocking<T, F>(&self, job: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce(&mut HashMemory) -> T + Send + 'static,
    {
        let (done, result) = std::sync::mpsc::sync_channel(1);
        self.submit(Box::new(move |memory| {
            let _ = done.send(job(memory));
        }))?;
        result.recv().map_err(|_| PoolError::Failed)
    }

    fn submit(&self, job: Job) -> Result<(), PoolError> {
        // Counted before it is offered, so a worker taking it at once never counts below zero.
        self.gauges.waiting.fetch_add(1, Ordering::SeqCst);
        self.queue.try_send(job).map_err(|refused| {
            self.gauges.waiting.fetch_sub(1, Ordering::SeqCst);
            match refused {
                TrySendError::Full(_) => {
                    self.gauges.refused.fetch_add(1, Ordering::SeqCst);
                    PoolError::Busy
                }
                TrySendError::Disconnected(_) => PoolError::Failed,
            }
        })
    }
}

fn work(receiver: &Mutex<Receiver<Job>>, gauges: &Gauges) {
    let mut memory = HashMemory::default();
    loop {
        // The lock is held only while waiting for the next job; a panic elsewhere cannot
        // leave the receiver in a bad state, so a poisoned lock is still usable.
        let next = receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        let Ok(job) = next else { return };
        gauges.waiting.fetch_sub(1, Ordering::SeqCst);
        let now = gauges.running.fetch_add(1, Ordering::SeqCst) + 1;
        gauges.most_running.fetch_max(now, Ordering::SeqCst);
        // A panicking job drops its result sender (the caller sees `Failed`); the worker and
        // its memory stay.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut memory)));
        gauges.running.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    /// A job that reports its start and then waits for the gate.
    fn gated(
        started: &mpsc::Sender<()>,
        gate: &Arc<(Mutex<bool>, std::sync::Condvar)>,
    ) -> impl FnOnce(&mut HashMemory) -> u8 + Send + 'static {
        let started = started.clone();
        let gate = gate.clone();
        move |_| {
            let _ = started.send(());
            let (open, signal) = &*gate;
            let mut open = open.lock().expect("gate");
            while !*open {
                open = signal.wait(open).expect("gate");
            }
            7
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_at_most_its_threads_and_refuses_past_its_queue() {
        const THREADS: usize = 2;
        const QUEUE: usize = 3;
        let pool = HashPool::new(THREADS, QUEUE).expect("pool");
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let (started, starts) = mpsc::channel();

        let mut jobs = Vec::new();
        for _ in 0..THREADS {
            let pool = pool.clone();
            let job = gated(&started, &gate);
            jobs.push(tokio::spawn(async move { pool.run(job).await }));
        }
        for _ in 0..THREADS {
            starts
                .recv_timeout(Duration::from_secs(10))
                .expect("every worker took a job");
        }
        // Every worker is busy: the next QUEUE jobs wait, and the one after is refused.
        for _ in 0..QUEUE {
            let pool = pool.clone();
            let job = gated(&started, &gate);
            jobs.push(tokio::spawn(async move { pool.run(job).await }));
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while pool.waiting() < QUEUE {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the queued jobs arrive"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let started = std::time::Instant::now();
        assert_eq!(pool.run(|_| 0u8).await, Err(PoolError::Busy));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "refused at once"
        );
        assert_eq!(pool.waiting(), QUEUE, "the refused job took no place");
        assert_eq!(pool.refused(), 1);
        assert!(
            starts.try_recv().is_err(),
            "no queued job started while every worker was held"
        );

        *gate.0.lock().expect("gate") = true;
        gate.1.notify_all();
        for job in jobs {
            assert_eq!(job.await.expect("task"), Ok(7));
        }
        assert_eq!(
            pool.most_running(),
            THREADS,
            "never more than THREADS at once"
        );
        assert_eq!(pool.run(|_| 1u8).await, Ok(1), "free again once drained");
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone() {
        let pool = HashPool::new(1, 1).expect("pool");
        let failed = pool.run(|_| -> u8 { panic!("boom") }).await;
        assert_eq!(failed, Err(PoolError::Failed));
        assert_eq!(pool.run(|_| 3u8).await, Ok(3), "the worker survived");
    }

    #[tokio::test]
    async fn memory_is_kept_between_jobs() {
        let pool = HashPool::new(1, 1).expect("pool");
        let first = pool
            .run(|memory| memory.blocks(64).as_ptr() as usize)
            .await
            .expect("ran");
        let again = pool
            .run(|memory| memory.blocks(32).as_ptr() as usize)
            .await
            .expect("ran");
        assert_eq!(first, again, "the same buffer, not a new allocation");
    }
}
