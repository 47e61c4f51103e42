//! The copy pipeline: copies run on the thread pool while the generator goes on; their reports come out in rsync's order.

use super::*;

impl Generator<'_> {
    /// Starts a copy on the thread pool; its report waits in `pending`.
    pub(super) fn spawn_copy(&mut self, index: usize, job: CopyJob, item: Item) {
        self.touch(dir_of(&self.dest_name(index)));
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending_jobs += 1;
        self.pending_bytes += job.size;
        let meta = CopyMeta {
            seq,
            index,
            progress: job.progress.clone(),
            announced: false,
            size: job.size,
            source: job.source,
            src_name: job.src_name.clone(),
        };
        let tx = self.result_tx.clone();
        rayon::spawn(move || {
            let r = run(&job);
            drop(job);
            let _ = tx.send((seq, r));
        });
        self.pending.push_back(Pending::Copy(meta, item));
    }

    /// Reports everything pending, waiting for all copies.
    pub(super) fn flush(&mut self, sink: &mut dyn SyncSink) {
        self.drain(sink, true);
    }

    /// Reports pending output in order, up to the first copy still running (or, with
    /// `block`, waiting for every copy).
    pub(super) fn drain(&mut self, sink: &mut dyn SyncSink, block: bool) {
        loop {
            let seq = match self.pending.front() {
                None => return,
                Some(Pending::Copy(meta, _)) => meta.seq,
                Some(_) => {
                    if let Some(p) = self.pending.pop_front() {
                        self.emit(p, None, sink);
                    }
                    continue;
                }
            };
            if !self.results.contains_key(&seq) {
                while let Ok((s, r)) = self.result_rx.try_recv() {
                    self.results.insert(s, r);
                }
            }
            if !self.results.contains_key(&seq) {
                if !block {
                    return;
                }
                if !self.wait_for_result(sink) {
                    return;
                }
                continue;
            }
            let r = self.results.remove(&seq);
            if let Some(p) = self.pending.pop_front() {
                self.emit(p, r, sink);
            }
        }
    }

    /// Waits for the next copy result; meanwhile, with `--progress`, announces the oldest
    /// running copy and reports how far it got. Returns false if no result can come.
    pub(super) fn wait_for_result(&mut self, sink: &mut dyn SyncSink) -> bool {
        loop {
            let timeout = if self.opts.progress {
                std::time::Duration::from_millis(500)
            } else {
                std::time::Duration::from_secs(3600)
            };
            match self.result_rx.recv_timeout(timeout) {
                Ok((s, r)) => {
                    self.results.insert(s, r);
                    return true;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if self.opts.progress {
                        self.interim_progress(sink);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    /// Reports the progress of the copy at the front of the queue (naming it first).
    pub(super) fn interim_progress(&mut self, sink: &mut dyn SyncSink) {
        let total = self.entries.len() as u64;
        let Some(Pending::Copy(meta, item)) = self.pending.front_mut() else {
            return;
        };
        if !meta.announced {
            meta.announced = true;
            sink.item(item);
        }
        let done = meta
            .progress
            .as_ref()
            .map_or(0, |p| p.load(std::sync::atomic::Ordering::Relaxed));
        sink.progress(&ProgressEvent {
            name: item.name.clone(),
            done,
            size: meta.size,
            finished: false,
            to_check: total - meta.index as u64 - 1,
            total,
        });
    }

    /// Waits for the oldest running copy and reports up to it.
    pub(super) fn drain_one(&mut self, sink: &mut dyn SyncSink) {
        let before = self.pending_jobs;
        while self.pending_jobs == before && !self.pending.is_empty() {
            let front_is_copy = matches!(self.pending.front(), Some(Pending::Copy(..)));
            if front_is_copy {
                let seq = match self.pending.front() {
                    Some(Pending::Copy(meta, _)) => meta.seq,
                    _ => return,
                };
                while !self.results.contains_key(&seq) {
                    if !self.wait_for_result(sink) {
                        return;
                    }
                }
            }
            self.drain(sink, false);
        }
    }

    pub(super) fn emit(&mut self, p: Pending, r: Option<CopyResult>, sink: &mut dyn SyncSink) {
        match p {
            Pending::Item(item) => sink.item(&item),
            Pending::Delete(ev) => sink.deleted(&ev),
            Pending::Message(m) => sink.message(&m),
            Pending::Copy(meta, item) => {
                self.pending_jobs -= 1;
                self.pending_bytes -= meta.size;
                match r {
                    Some(Ok(copied)) => {
                        self.outcome.stats.literal_data += copied.literal;
                        self.outcome.stats.matched_data += copied.matched;
                        let n = copied.literal + copied.matched;
                        if !meta.announced {
                            sink.item(&item);
                        }
                        if self.opts.progress {
                            sink.progress(&ProgressEvent {
                                name: item.name.clone(),
                                done: n,
                                size: meta.size,
                                finished: true,
                                to_check: (self.entries.len() - meta.index - 1) as u64,
                                total: self.entries.len() as u64,
                            });
                        }
                    }
                    Some(Err(CopyError::Vanished)) => {
                        self.outcome.vanished = true;
                        sink.message(&io_message(format!(
                            "file has vanished: \"{}\"",
                            self.source_path(&meta)
                        )));
                    }
                    Some(Err(CopyError::SourceOpen(err))) => {
                        self.outcome.partial = true;
                        sink.message(&io_message(format!(
                            "rsync: [sender] send_files failed to open \"{}\": {}",
                            self.source_path(&meta),
                            err.errno_string()
                        )));
                    }
                    Some(Err(CopyError::Interrupted)) => {
                        self.outcome.interrupted = true;
                    }
                    Some(Err(CopyError::Io(err))) => {
                        self.outcome.partial = true;
                        sink.message(&io_message(format!("rsync: [receiver] {err}")));
                    }
                    None => {}
                }
            }
        }
    }

    /// The full source path of a copy, as rsync's sender names it in messages.
    fn source_path(&self, meta: &CopyMeta) -> String {
        let base = self
            .src_abs
            .get(meta.source as usize)
            .map(Vec::as_slice)
            .unwrap_or_default();
        String::from_utf8_lossy(&join(base, &meta.src_name)).into_owned()
    }
}
