//! BPE merging of one pre-tokenized word, following Hugging Face `tokenizers`' `Word::merge_all`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// `(left id, right id)` -> `(rank, merged id)`; a lower rank merges first.
pub(crate) type MergeMap = HashMap<(u32, u32), (u32, u32)>;

#[derive(Clone, Copy)]
struct Symbol {
    id: u32,
    prev: Option<usize>,
    next: Option<usize>,
    alive: bool,
}

/// Merges the initial symbol ids of one word until no listed pair is left.
///
/// Always merges the existing pair with the lowest rank, leftmost first, with the same queue
/// and stale-entry rules as `tokenizers` (so ids agree even for unusual merge lists).
pub(crate) fn merge_word(ids: &[u32], merges: &MergeMap) -> Vec<u32> {
    let n = ids.len();
    let mut symbols: Vec<Symbol> = ids
        .iter()
        .enumerate()
        .map(|(i, &id)| Symbol {
            id,
            prev: i.checked_sub(1),
            next: (i + 1 < n).then_some(i + 1),
            alive: true,
        })
        .collect();
    // Entries are (rank, position of the left symbol, merged id); `Reverse` pops the smallest.
    let mut queue: BinaryHeap<Reverse<(u32, usize, u32)>> = ids
        .windows(2)
        .enumerate()
        .filter_map(|(pos, w)| {
            merges
                .get(&(w[0], w[1]))
                .map(|&(rank, new)| Reverse((rank, pos, new)))
        })
        .collect();

    while let Some(Reverse((_, pos, new_id))) = queue.pop() {
        let left = symbols[pos];
        if !left.alive {
            continue;
        }
        let Some(next_pos) = left.next else { continue };
        let right = symbols[next_pos];
        // Skip entries made stale by earlier merges.
        if merges
            .get(&(left.id, right.id))
            .is_none_or(|&(_, id)| id != new_id)
        {
            continue;
        }
        symbols[pos].id = new_id;
        symbols[pos].next = right.next;
        symbols[next_pos].alive = false;
        if let Some(after) = right.next {
            symbols[after].prev = Some(pos);
        }
        let current = symbols[pos];
        if let Some(prev) = current.prev
            && let Some(&(rank, id)) = merges.get(&(symbols[prev].id, current.id))
        {
            queue.push(Reverse((rank, prev, id)));
        }
        if let Some(next) = current.next
            && let Some(&(rank, id)) = merges.get(&(current.id, symbols[next].id))
        {
            queue.push(Reverse((rank, pos, id)));
        }
    }
    symbols.iter().filter(|s| s.alive).map(|s| s.id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_lowest_rank_first_and_leftmost_on_ties() {
        // a=0 b=1 ab=2 aa=3 ; ranks: (a,b)=0, (a,a)=1
        let merges: MergeMap = [((0, 1), (0, 2)), ((0, 0), (1, 3))].into_iter().collect();
        assert_eq!(merge_word(&[0, 0, 1], &merges), vec![0, 2]);
        assert_eq!(merge_word(&[0, 0, 0], &merges), vec![3, 0]);
        assert_eq!(merge_word(&[0, 0, 0, 0], &merges), vec![3, 3]);
        assert_eq!(merge_word(&[], &merges), Vec::<u32>::new());
        assert_eq!(merge_word(&[1], &merges), vec![1]);
    }
}
