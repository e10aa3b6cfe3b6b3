//! The jobs waiting for a sequence. Preempted jobs come first (they go back to the front, as
//! vLLM puts them, so the work already done for them is lost no longer than needed), then
//! follow-ups (further generations of a request already served: its answer is not done, and
//! requests that came after it should not finish first); then the callers' own queues are
//! served in turn, one job each, so that one caller's sixty requests do not hold another
//! caller's single request back behind all of them.

use std::collections::VecDeque;

#[derive(Debug)]
pub(crate) struct WaitQueue<T> {
    resumed: VecDeque<T>,
    follow_ups: VecDeque<T>,
    /// Callers with jobs waiting, the next to be served first; each with its jobs in order.
    callers: VecDeque<(String, VecDeque<T>)>,
}

impl<T> Default for WaitQueue<T> {
    fn default() -> Self {
        WaitQueue {
            resumed: VecDeque::new(),
            follow_ups: VecDeque::new(),
            callers: VecDeque::new(),
        }
    }
}

impl<T> WaitQueue<T> {
    /// A new job of `caller`, behind that caller's earlier ones. A caller not yet waiting
    /// takes its turn after those who are.
    pub fn push(&mut self, caller: &str, item: T) {
        match self.callers.iter_mut().find(|(name, _)| name == caller) {
            Some((_, jobs)) => jobs.push_back(item),
            None => self
                .callers
                .push_back((caller.to_string(), VecDeque::from([item]))),
        }
    }

    /// A preempted job: it is served before anything else.
    pub fn push_resumed(&mut self, item: T) {
        self.resumed.push_front(item);
    }

    /// A further generation of a request already served: after the preempted jobs, before
    /// every new request, in the order they came.
    pub fn push_follow_up(&mut self, item: T) {
        self.follow_ups.push_back(item);
    }

    /// The job [`WaitQueue::pop`] would take.
    pub fn front(&self) -> Option<&T> {
        self.resumed
            .front()
            .or_else(|| self.follow_ups.front())
            .or_else(|| self.callers.front().and_then(|(_, jobs)| jobs.front()))
    }

    /// Takes the next job; its caller, if it has more, waits for its next turn behind the
    /// others.
    pub fn pop(&mut self) -> Option<T> {
        if let Some(item) = self.resumed.pop_front() {
            return Some(item);
        }
        if let Some(item) = self.follow_ups.pop_front() {
            return Some(item);
        }
        let (caller, mut jobs) = self.callers.pop_front()?;
        let item = jobs.pop_front();
        if !jobs.is_empty() {
            self.callers.push_back((caller, jobs));
        }
        item
    }

    /// Keeps only the jobs for which `keep` is true (the others are dropped).
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.resumed.retain(&mut keep);
        self.follow_ups.retain(&mut keep);
        for (_, jobs) in &mut self.callers {
            jobs.retain(&mut keep);
        }
        self.callers.retain(|(_, jobs)| !jobs.is_empty());
    }

    pub fn len(&self) -> usize {
        self.resumed.len()
            + self.follow_ups.len()
            + self
                .callers
                .iter()
                .map(|(_, jobs)| jobs.len())
                .sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(queue: &mut WaitQueue<&'static str>) -> Vec<&'static str> {
        std::iter::from_fn(|| queue.pop()).collect()
    }

    #[test]
    fn callers_take_turns_one_job_each() {
        let mut queue = WaitQueue::default();
        for job in ["a1", "a2", "a3", "a4"] {
            queue.push("a", job);
        }
        assert_eq!(queue.pop(), Some("a1"));
        // b's single request arrives behind four of a's: it is served next but one.
        queue.push("b", "b1");
        queue.push("c", "c1");
        queue.push("c", "c2");
        assert_eq!(queue.len(), 6);
        assert_eq!(drain(&mut queue), ["a2", "b1", "c1", "a3", "c2", "a4"]);
        assert!(queue.is_empty());
    }

    #[test]
    fn preempted_jobs_go_first_the_last_preempted_at_the_front() {
        let mut queue = WaitQueue::default();
        queue.push("a", "a1");
        queue.push_resumed("newest-admitted");
        queue.push_resumed("older-admitted");
        assert_eq!(queue.front(), Some(&"older-admitted"));
        assert_eq!(
            drain(&mut queue),
            ["older-admitted", "newest-admitted", "a1"]
        );
    }

    #[test]
    fn follow_ups_go_after_the_preempted_and_before_new_requests() {
        let mut queue = WaitQueue::default();
        queue.push("a", "a1");
        queue.push("b", "b1");
        queue.push_follow_up("first-follow-up");
        queue.push_resumed("preempted");
        queue.push_follow_up("second-follow-up");
        assert_eq!(queue.len(), 5);
        assert_eq!(
            drain(&mut queue),
            [
                "preempted",
                "first-follow-up",
                "second-follow-up",
                "a1",
                "b1"
            ]
        );
    }

    #[test]
    fn retain_drops_jobs_and_callers_left_with_none() {
        let mut queue = WaitQueue::default();
        queue.push("a", "a1");
        queue.push("b", "b1");
        queue.push("b", "b2");
        queue.push_resumed("r");
        queue.retain(|job| !job.starts_with('b') && *job != "r");
        assert_eq!(queue.len(), 1);
        queue.push("c", "c1");
        assert_eq!(drain(&mut queue), ["a1", "c1"]);
    }
}
