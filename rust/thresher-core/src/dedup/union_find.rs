//! Clusters from duplicate pairs: union-find over the documents that appear in a pair.
//!
//! Memory is about 16 bytes per document that has a duplicate (its key in a sorted vector, a
//! parent and a size), never per corpus document: documents without a duplicate are never seen.
//! Pair files are read twice (ids first, then unions), so pairs are never held in memory.
//!
//! With refinement (verification on), a component becomes stars: each document is removed only
//! when its exact Jaccard with a kept document reaches the threshold; otherwise it is kept.

use std::path::{Path, PathBuf};

use super::lsh::{jaccard, Verification};
use super::records::{
    read_all, row_of, shard_of, DocKey, DupRecord, Pair, RecordReader, RecordWriter, FLAG_REMOVED,
};
use crate::error::Result;

/// Which document of a cluster survives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepPolicy {
    /// The first by (shard, row).
    First,
    /// The highest priority (length or a signal); ties go to the first.
    Highest,
}

/// Union-find with union by size and path halving over dense indices.
pub struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    pub fn new(n: usize) -> Self {
        Self {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }

    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    pub fn union(&mut self, a: u32, b: u32) -> bool {
        let (mut ra, mut rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        if self.size[ra as usize] < self.size[rb as usize] {
            std::mem::swap(&mut ra, &mut rb);
        }
        self.parent[rb as usize] = ra;
        self.size[ra as usize] += self.size[rb as usize];
        true
    }

    pub fn size_of_root(&self, root: u32) -> u32 {
        self.size[root as usize]
    }
}

/// What clustering found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClusterStats {
    pub pairs: u64,
    /// Documents kept apart by refinement (no kept document of their component is close enough).
    pub refined_out: u64,
    pub documents_in_clusters: u64,
    pub clusters: u64,
    pub removed: u64,
    pub largest_cluster: u64,
    /// (cluster size, number of clusters of that size), ascending.
    pub size_histogram: Vec<(u64, u64)>,
}

/// Sorted, unique document keys of every pair, collected with bounded slack.
fn collect_documents(pair_files: &[PathBuf]) -> Result<(Vec<DocKey>, u64)> {
    let mut docs: Vec<DocKey> = Vec::new();
    let mut compacted = 0usize;
    let mut pairs = 0u64;
    for path in pair_files {
        let mut reader = RecordReader::<Pair>::open(path)?;
        while let Some(p) = reader.next_record()? {
            docs.push(p.a);
            docs.push(p.b);
            pairs += 1;
            if docs.len() >= 2 * compacted.max(1 << 20) {
                docs.sort_unstable();
                docs.dedup();
                compacted = docs.len();
            }
        }
    }
    docs.sort_unstable();
    docs.dedup();
    docs.shrink_to_fit();
    Ok((docs, pairs))
}

/// Clusters every pair and writes one [`DupRecord`] per clustered document, sorted by document.
///
/// `priority(docs)` is asked, for the sorted documents in clusters, for their keep priority
/// (only with [`KeepPolicy::Highest`]).
pub fn cluster_pairs(
    pair_files: &[PathBuf],
    policy: KeepPolicy,
    priority: impl FnOnce(&[DocKey]) -> Result<Vec<f64>>,
    refine: Option<&mut Verification>,
    out: &Path,
) -> Result<ClusterStats> {
    let (docs, pairs) = collect_documents(pair_files)?;
    let index = |d: DocKey| docs.binary_search(&d).expect("document collected") as u32;
    let mut uf = UnionFind::new(docs.len());
    for path in pair_files {
        let mut reader = RecordReader::<Pair>::open(path)?;
        while let Some(p) = reader.next_record()? {
            uf.union(index(p.a), index(p.b));
        }
    }
    let priorities = match policy {
        KeepPolicy::First => None,
        KeepPolicy::Highest => Some(priority(&docs)?),
    };
    // Members of each component, best first: highest priority, then first document.
    let roots: Vec<u32> = (0..docs.len() as u32).map(|i| uf.find(i)).collect();
    let mut order: Vec<u32> = (0..docs.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        roots[a as usize].cmp(&roots[b as usize]).then_with(|| {
            let (pa, pb) = priorities
                .as_ref()
                .map_or((0.0, 0.0), |p| (p[a as usize], p[b as usize]));
            pb.total_cmp(&pa).then(a.cmp(&b))
        })
    });
    // kept_by[i] = the member whose copy survives for i (itself when i is kept).
    let mut kept_by: Vec<u32> = vec![u32::MAX; docs.len()];
    let mut refine = refine;
    let mut refined_out = 0u64;
    let mut start = 0;
    while start < order.len() {
        let root = roots[order[start] as usize];
        let mut end = start;
        while end < order.len() && roots[order[end] as usize] == root {
            end += 1;
        }
        let members = &order[start..end];
        match refine.as_deref_mut() {
            None => {
                for &m in members {
                    kept_by[m as usize] = members[0];
                }
            }
            Some(v) => {
                // A document is removed only when its own shingles reach the threshold against
                // a kept document of its component, so chains of pairs never remove a
                // document whose only close neighbours were removed too.
                let mut kept: Vec<(u32, Vec<u32>)> = Vec::new();
                for &m in members {
                    let set = v.store.get(docs[m as usize])?;
                    let matched = kept
                        .iter()
                        .find(|(_, rep)| jaccard(rep, &set) >= v.threshold)
                        .map(|(r, _)| *r);
                    match matched {
                        Some(r) => kept_by[m as usize] = r,
                        None => {
                            if !kept.is_empty() {
                                refined_out += 1;
                            }
                            kept_by[m as usize] = m;
                            if kept.len() < MAX_KEPT_PER_COMPONENT {
                                kept.push((m, set));
                            }
                        }
                    }
                }
            }
        }
        start = end;
    }
    drop(order);
    let mut sizes: Vec<u32> = vec![0; docs.len()];
    for &k in &kept_by {
        sizes[k as usize] += 1;
    }
    let mut stats = ClusterStats {
        pairs,
        refined_out,
        ..Default::default()
    };
    let mut histogram = std::collections::BTreeMap::new();
    let mut writer = RecordWriter::<DupRecord>::create(out)?;
    for i in 0..docs.len() {
        let kept = kept_by[i] as usize;
        let size = sizes[kept];
        if size < 2 {
            continue; // left alone by refinement: no longer has a duplicate
        }
        let removed = kept != i;
        if !removed {
            stats.clusters += 1;
            stats.largest_cluster = stats.largest_cluster.max(size as u64);
            *histogram.entry(size as u64).or_insert(0u64) += 1;
        }
        stats.documents_in_clusters += 1;
        stats.removed += removed as u64;
        writer.push(&DupRecord {
            doc: docs[i],
            cluster: docs[kept],
            size,
            flags: if removed { FLAG_REMOVED } else { 0 },
        })?;
    }
    writer.finish()?;
    stats.size_histogram = histogram.into_iter().collect();
    Ok(stats)
}

/// Documents a component may keep apart before further unmatched members are simply kept.
const MAX_KEPT_PER_COMPONENT: usize = 256;

/// Reads the f64 priorities of sorted documents from per-shard files of one f64 per row.
pub fn read_priorities(
    docs: &[DocKey],
    path_of_shard: impl Fn(u32) -> PathBuf,
) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(docs.len());
    let mut i = 0;
    while i < docs.len() {
        let shard = shard_of(docs[i]);
        let bytes = std::fs::read(path_of_shard(shard))?;
        while i < docs.len() && shard_of(docs[i]) == shard {
            let at = row_of(docs[i]) as usize * 8;
            let value = bytes
                .get(at..at + 8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                .unwrap_or(f64::NEG_INFINITY);
            out.push(if value.is_nan() {
                f64::NEG_INFINITY
            } else {
                value
            });
            i += 1;
        }
    }
    Ok(out)
}

/// Reads a cluster file back (tests and reports).
pub fn read_clusters(path: &Path) -> Result<Vec<DupRecord>> {
    read_all(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::records::{doc_key, write_records};
    use proptest::prelude::*;

    #[test]
    fn clusters_transitive_pairs_and_keeps_policy() {
        let dir = tempfile::tempdir().unwrap();
        let p1 = dir.path().join("a.bin");
        let p2 = dir.path().join("b.bin");
        let d = |s, r| doc_key(s, r);
        write_records(
            &p1,
            &[
                Pair {
                    a: d(0, 1),
                    b: d(1, 4),
                },
                Pair {
                    a: d(0, 5),
                    b: d(0, 6),
                },
            ],
        )
        .unwrap();
        write_records(
            &p2,
            &[
                Pair {
                    a: d(1, 4),
                    b: d(2, 0),
                },
                Pair {
                    a: d(0, 1),
                    b: d(2, 0),
                },
            ],
        )
        .unwrap();
        let files = vec![p1, p2];
        let out = dir.path().join("clusters.bin");
        let stats =
            cluster_pairs(&files, KeepPolicy::First, |_| unreachable!(), None, &out).unwrap();
        assert_eq!(stats.clusters, 2);
        assert_eq!(stats.documents_in_clusters, 5);
        assert_eq!(stats.removed, 3);
        assert_eq!(stats.size_histogram, vec![(2, 1), (3, 1)]);
        let records = read_clusters(&out).unwrap();
        let kept: Vec<_> = records
            .iter()
            .filter(|r| !r.removed())
            .map(|r| r.doc)
            .collect();
        assert_eq!(kept, vec![d(0, 1), d(0, 5)]);
        assert!(records
            .iter()
            .all(|r| r.cluster == d(0, 1) || r.cluster == d(0, 5)));

        // Highest priority: (2, 0) is the longest of the first cluster.
        let stats = cluster_pairs(
            &files,
            KeepPolicy::Highest,
            |docs| {
                Ok(docs
                    .iter()
                    .map(|&x| if x == d(2, 0) { 10.0 } else { 1.0 })
                    .collect())
            },
            None,
            &out,
        )
        .unwrap();
        assert_eq!(stats.removed, 3);
        let kept: Vec<_> = read_clusters(&out)
            .unwrap()
            .iter()
            .filter(|r| !r.removed())
            .map(|r| r.doc)
            .collect();
        assert_eq!(kept, vec![d(0, 5), d(2, 0)]);
    }

    #[test]
    fn refinement_keeps_documents_far_from_every_kept_one() {
        use crate::dedup::lsh::{ShingleStore, ShingleStoreWriter};
        let dir = tempfile::tempdir().unwrap();
        let mut store = ShingleStoreWriter::create(dir.path(), 0).unwrap();
        store.push(&[1, 2, 3, 4, 5]).unwrap(); // row 0
        store.push(&[1, 2, 3, 4, 6]).unwrap(); // row 1: J(0, 1) = 4/6
        store.push(&[2, 3, 4, 6, 7]).unwrap(); // row 2: J(1, 2) = 4/6, J(0, 2) = 3/7
        store.push(&[1, 2, 3, 4, 5]).unwrap(); // row 3: same as row 0
        store.finish().unwrap();
        let d = |r| doc_key(0, r);
        let pairs = dir.path().join("p.bin");
        write_records(
            &pairs,
            &[
                Pair { a: d(0), b: d(1) },
                Pair { a: d(1), b: d(2) },
                Pair { a: d(0), b: d(3) },
            ],
        )
        .unwrap();
        let out = dir.path().join("c.bin");
        let mut v = Verification {
            store: ShingleStore::new(dir.path()),
            threshold: 0.6,
        };
        let stats = cluster_pairs(
            &[pairs],
            KeepPolicy::First,
            |_| unreachable!(),
            Some(&mut v),
            &out,
        )
        .unwrap();
        // Row 1 is close to row 0 (kept); row 2 is only close to row 1, which is removed: kept.
        let records = read_clusters(&out).unwrap();
        let removed: Vec<_> = records
            .iter()
            .filter(|r| r.removed())
            .map(|r| row_of(r.doc))
            .collect();
        assert_eq!(removed, vec![1, 3]);
        assert_eq!(stats.refined_out, 1);
        assert_eq!(stats.clusters, 1);
        assert_eq!(stats.documents_in_clusters, 3);
        assert!(records.iter().all(|r| r.cluster == d(0) && r.size == 3));
    }

    proptest! {
        #[test]
        fn union_find_agrees_with_naive_components(edges in proptest::collection::vec((0u32..30, 0u32..30), 0..60)) {
            let mut uf = UnionFind::new(30);
            let mut label: Vec<u32> = (0..30).collect();
            for &(a, b) in &edges {
                uf.union(a, b);
                let (la, lb) = (label[a as usize], label[b as usize]);
                for l in label.iter_mut() { if *l == lb { *l = la; } }
            }
            for a in 0..30u32 {
                for b in 0..30u32 {
                    prop_assert_eq!(uf.find(a) == uf.find(b), label[a as usize] == label[b as usize]);
                }
            }
        }
    }
}
