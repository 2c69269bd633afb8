//! Clusters from duplicate pairs: union-find over the documents that appear in a pair.
//!
//! Memory is about 16 bytes per document that has a duplicate (its key in a sorted vector, a
//! parent and a size), never per corpus document: documents without a duplicate are never seen.
//! Pair files are read twice (ids first, then unions), so pairs are never held in memory.

use std::path::{Path, PathBuf};

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
    // best[root] = index of the member kept; members are visited in document order, so the
    // first member wins ties.
    let mut best: Vec<u32> = vec![u32::MAX; docs.len()];
    for i in 0..docs.len() as u32 {
        let root = uf.find(i) as usize;
        let current = best[root];
        let better = current == u32::MAX
            || priorities
                .as_ref()
                .is_some_and(|p| p[i as usize] > p[current as usize]);
        if better {
            best[root] = i;
        }
    }
    let mut stats = ClusterStats {
        pairs,
        documents_in_clusters: docs.len() as u64,
        ..Default::default()
    };
    let mut histogram = std::collections::BTreeMap::new();
    let mut writer = RecordWriter::<DupRecord>::create(out)?;
    for i in 0..docs.len() as u32 {
        let root = uf.find(i);
        let size = uf.size_of_root(root);
        let kept = best[root as usize];
        let removed = kept != i;
        if i == root {
            stats.clusters += 1;
            stats.largest_cluster = stats.largest_cluster.max(size as u64);
            *histogram.entry(size as u64).or_insert(0u64) += 1;
        }
        stats.removed += removed as u64;
        writer.push(&DupRecord {
            doc: docs[i as usize],
            cluster: docs[kept as usize],
            size,
            flags: if removed { FLAG_REMOVED } else { 0 },
        })?;
    }
    writer.finish()?;
    stats.size_histogram = histogram.into_iter().collect();
    Ok(stats)
}

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
        let stats = cluster_pairs(&files, KeepPolicy::First, |_| unreachable!(), &out).unwrap();
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
