//! Which offset may be committed: the contiguous watermark per partition.
//!
//! Batches are written concurrently and may become durable out of order.
//! An offset may be committed only when every message before it is durable,
//! so the position committed for a partition is the lowest offset still in
//! flight (or, with nothing in flight, one past the highest durable one).
//! Offsets need not be dense (compacted topics, transaction markers): only
//! offsets that were actually handed out count.
//!
//! Each assignment of a partition starts a new generation. A batch read
//! under an earlier assignment may finish after the partition was revoked
//! (and perhaps assigned again): its completion is ignored, because the
//! partition's new owner re-reads from the committed position and event ids
//! make the re-read a no-op.

use std::collections::{BTreeSet, HashMap};

/// A partition's in-flight offsets and its last stored position.
#[derive(Debug, Default)]
struct PartitionMarks {
    generation: u64,
    in_flight: BTreeSet<i64>,
    /// The first offset read in this generation: a position at or below it says nothing new.
    first_read: Option<i64>,
    highest_done: Option<i64>,
    stored: Option<i64>,
}

impl PartitionMarks {
    /// The position every offset below which is durable, if it moved forward.
    fn advance(&mut self) -> Option<i64> {
        let done = self.highest_done?;
        let position = self.in_flight.first().copied().unwrap_or(done + 1);
        let known = self.stored.max(self.first_read);
        if known.is_some_and(|known| known >= position) {
            return None;
        }
        self.stored = Some(position);
        Some(position)
    }
}

/// Offsets of one batch, by partition, with the generation they were read in.
#[derive(Debug, Default)]
pub struct Ticket {
    parts: Vec<TicketPart>,
}

#[derive(Debug)]
struct TicketPart {
    topic: String,
    partition: i32,
    generation: u64,
    offsets: Vec<i64>,
}

impl Ticket {
    /// Messages in the batch whose partitions are assigned.
    pub fn tracked(&self) -> usize {
        self.parts.iter().map(|p| p.offsets.len()).sum()
    }
}

/// A position to store: every offset of `topic`/`partition` below `offset` is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// The watermarks of every assigned partition.
#[derive(Debug, Default)]
pub struct Watermarks {
    partitions: HashMap<String, HashMap<i32, PartitionMarks>>,
    generations: u64,
}

impl Watermarks {
    /// A partition was assigned to this consumer: a new generation begins.
    pub fn assign(&mut self, topic: &str, partition: i32) {
        self.generations += 1;
        let marks = PartitionMarks { generation: self.generations, ..PartitionMarks::default() };
        self.partitions.entry(topic.to_owned()).or_default().insert(partition, marks);
    }

    /// A partition was taken away: batches still in flight for it will not move its position.
    pub fn revoke(&mut self, topic: &str, partition: i32) {
        if let Some(partitions) = self.partitions.get_mut(topic) {
            partitions.remove(&partition);
        }
    }

    /// Records that a batch holding these messages is on its way to the log
    /// (see [`Watermarks::read`]).
    pub fn dispatch<'a>(&mut self, messages: impl IntoIterator<Item = (&'a str, i32, i64)>) -> Ticket {
        let mut ticket = Ticket::default();
        for (topic, partition, offset) in messages {
            self.read(&mut ticket, topic, partition, offset);
        }
        ticket
    }

    /// Adds a message just received to a batch's ticket. Call it as each
    /// message arrives, not once the batch is full: a rebalance may happen
    /// between two receives, and a message read under the old assignment
    /// must carry the old generation. Offsets of one partition come in
    /// increasing order, except when the client re-reads after an error.
    /// Messages of unassigned partitions are written but not tracked.
    pub fn read(&mut self, ticket: &mut Ticket, topic: &str, partition: i32, offset: i64) {
        let Some(marks) = self.partitions.get_mut(topic).and_then(|p| p.get_mut(&partition)) else {
            return;
        };
        // A message delivered again is written again, harmlessly, but
        // tracked once: it is durable when either delivery is.
        if marks.highest_done.is_some_and(|done| offset <= done) || !marks.in_flight.insert(offset) {
            return;
        }
        marks.first_read.get_or_insert(offset);
        let generation = marks.generation;
        match ticket
            .parts
            .iter_mut()
            .find(|p| p.partition == partition && p.topic == topic && p.generation == generation)
        {
            Some(part) => part.offsets.push(offset),
            None => {
                ticket.parts.push(TicketPart { topic: topic.to_owned(), partition, generation, offsets: vec![offset] })
            }
        }
    }

    /// Records that a batch is durable; returns the positions that moved forward.
    pub fn complete(&mut self, ticket: Ticket) -> Vec<Position> {
        let mut positions = Vec::new();
        for part in ticket.parts {
            let Some(marks) = self.partitions.get_mut(&part.topic).and_then(|p| p.get_mut(&part.partition)) else {
                continue;
            };
            if marks.generation != part.generation {
                continue;
            }
            for offset in &part.offsets {
                marks.in_flight.remove(offset);
            }
            let last = part.offsets.iter().copied().max();
            marks.highest_done = marks.highest_done.max(last);
            if let Some(offset) = marks.advance() {
                positions.push(Position { topic: part.topic, partition: part.partition, offset });
            }
        }
        positions
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn offsets(ticket: &Ticket) -> Vec<i64> {
        ticket.parts.iter().flat_map(|p| p.offsets.iter().copied()).collect()
    }

    #[test]
    fn a_later_batch_done_first_does_not_move_the_position_past_an_earlier_one() {
        let mut marks = Watermarks::default();
        marks.assign("audit", 0);
        let first = marks.dispatch([("audit", 0, 0), ("audit", 0, 1)]);
        let second = marks.dispatch([("audit", 0, 2), ("audit", 0, 5)]);
        assert_eq!(marks.complete(second), vec![]);
        assert_eq!(marks.complete(first), vec![Position { topic: "audit".into(), partition: 0, offset: 6 }]);
    }

    #[test]
    fn gaps_in_offsets_do_not_stall_the_position() {
        let mut marks = Watermarks::default();
        marks.assign("audit", 1);
        let first = marks.dispatch([("audit", 1, 10), ("audit", 1, 12)]);
        let second = marks.dispatch([("audit", 1, 20)]);
        assert_eq!(marks.complete(first), vec![Position { topic: "audit".into(), partition: 1, offset: 20 }]);
        assert_eq!(marks.complete(second), vec![Position { topic: "audit".into(), partition: 1, offset: 21 }]);
    }

    #[test]
    fn a_message_delivered_again_is_tracked_once() {
        let mut marks = Watermarks::default();
        marks.assign("audit", 0);
        let first = marks.dispatch([("audit", 0, 0), ("audit", 0, 1), ("audit", 0, 2)]);
        // The client re-fetched from offset 1 while the first batch was in flight.
        let again = marks.dispatch([("audit", 0, 1), ("audit", 0, 2), ("audit", 0, 3)]);
        assert_eq!(again.tracked(), 1, "only offset 3 is new");
        assert_eq!(marks.complete(first), vec![Position { topic: "audit".into(), partition: 0, offset: 3 }]);
        assert_eq!(marks.complete(again), vec![Position { topic: "audit".into(), partition: 0, offset: 4 }]);
        // And once durable, a re-delivery does not hold anything back.
        let stale = marks.dispatch([("audit", 0, 2)]);
        assert_eq!(stale.tracked(), 0);
    }

    #[test]
    fn completions_from_before_a_reassignment_are_ignored() {
        let mut marks = Watermarks::default();
        marks.assign("audit", 0);
        let old = marks.dispatch([("audit", 0, 0), ("audit", 0, 1)]);
        marks.revoke("audit", 0);
        marks.assign("audit", 0);
        let new = marks.dispatch([("audit", 0, 0)]);
        assert_eq!(marks.complete(old), vec![], "the old generation's batch does not count");
        assert_eq!(marks.complete(new), vec![Position { topic: "audit".into(), partition: 0, offset: 1 }]);
    }

    #[test]
    fn a_batch_that_straddles_a_rebalance_keeps_each_message_in_its_generation() {
        let mut marks = Watermarks::default();
        marks.assign("audit", 0);
        let mut batch = Ticket::default();
        marks.read(&mut batch, "audit", 0, 500);
        // The next receive ran a rebalance: revoked, assigned again; the
        // client now re-reads from the committed offset 300.
        marks.revoke("audit", 0);
        marks.assign("audit", 0);
        marks.read(&mut batch, "audit", 0, 300);
        // The batch is durable before 301..=499 are even read: offset 500 of
        // the old assignment must not let the position jump past them.
        assert_eq!(marks.complete(batch), vec![Position { topic: "audit".into(), partition: 0, offset: 301 }]);
        let rest = marks.dispatch((301..=500).map(|o| ("audit", 0, o)));
        assert_eq!(marks.complete(rest), vec![Position { topic: "audit".into(), partition: 0, offset: 501 }]);
    }

    #[test]
    fn unassigned_partitions_are_not_tracked_and_unfinished_batches_hold_the_position() {
        let mut marks = Watermarks::default();
        marks.assign("audit", 0);
        let ticket = marks.dispatch([("audit", 0, 0), ("audit", 3, 7), ("other", 0, 1)]);
        assert_eq!(ticket.tracked(), 1);
        let stuck = marks.dispatch([("audit", 0, 1)]);
        let later = marks.dispatch([("audit", 0, 2)]);
        drop(stuck); // Abandoned at shutdown: never completed.
        assert_eq!(marks.complete(ticket), vec![Position { topic: "audit".into(), partition: 0, offset: 1 }]);
        assert_eq!(marks.complete(later), vec![], "offset 1 was never made durable");
    }

    proptest! {
        /// Batches over several partitions complete in a random order; every
        /// position handed out has all offsets below it completed, positions
        /// only go forward, and once all is done each partition stands one
        /// past its last offset.
        #[test]
        fn positions_never_pass_an_unfinished_offset(
            batches in prop::collection::vec(prop::collection::vec((0_i32..3, 1_i64..4), 1..20), 1..30),
            order in prop::collection::vec(any::<prop::sample::Index>(), 30),
        ) {
            let mut marks = Watermarks::default();
            for partition in 0..3 {
                marks.assign("t", partition);
            }
            let mut next = [0_i64; 3];
            let mut tickets = Vec::new();
            for batch in &batches {
                let mut messages = Vec::new();
                for &(partition, step) in batch {
                    let slot = &mut next[partition as usize];
                    *slot += step;
                    messages.push(("t", partition, *slot));
                }
                tickets.push(marks.dispatch(messages));
            }
            let mut done: Vec<Vec<i64>> = vec![Vec::new(); 3];
            let mut last_position = [i64::MIN; 3];
            let mut pending: Vec<Ticket> = tickets;
            let mut picks = order.into_iter().cycle();
            while !pending.is_empty() {
                let index = picks.next().map_or(0, |i| i.index(pending.len()));
                let ticket = pending.swap_remove(index);
                for part in &ticket.parts {
                    done[part.partition as usize].extend(&part.offsets);
                }
                let still: Vec<i64> = pending.iter().flat_map(offsets).collect();
                for position in marks.complete(ticket) {
                    let p = position.partition as usize;
                    prop_assert!(position.offset > last_position[p]);
                    last_position[p] = position.offset;
                    let unfinished_below = pending.iter().flat_map(|t| t.parts.iter())
                        .filter(|part| part.partition == position.partition)
                        .flat_map(|part| part.offsets.iter())
                        .any(|&o| o < position.offset);
                    prop_assert!(!unfinished_below, "position {} passes an unfinished offset ({still:?})", position.offset);
                }
            }
            for partition in 0..3 {
                if next[partition] > 0 {
                    prop_assert_eq!(last_position[partition], next[partition] + 1);
                }
            }
        }
    }
}
