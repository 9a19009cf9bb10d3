//! distribute: assigning whole input objects to transform instances.
//!
//! "When a batch transform job starts, SageMaker initializes compute instances and
//! distributes the inference or preprocessing workload between them [...] one instance
//! might process input1.csv, and another instance might process the file named
//! input2.csv" (<https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform.html>).
//! An object is never split across instances. AWS does not say how it balances; this
//! crate gives the largest objects out first, each to the least-loaded instance (ties to
//! the lowest instance number), which is deterministic and keeps loads even.

/// For `instance_count` instances (0 is taken as 1), the indexes of the objects each
/// processes, in object order; every object appears exactly once.
pub fn distribute_objects(object_sizes: &[u64], instance_count: usize) -> Vec<Vec<usize>> {
    let n = instance_count.max(1);
    let mut order: Vec<usize> = (0..object_sizes.len()).collect();
    // Stable: equal sizes keep object order.
    order.sort_by(|&a, &b| object_sizes[b].cmp(&object_sizes[a]));
    let mut loads = vec![0u64; n];
    let mut assigned = vec![Vec::new(); n];
    for i in order {
        let (target, _) = loads.iter().enumerate().min_by_key(|&(k, &load)| (load, k)).unwrap_or((0, &0));
        loads[target] = loads[target].saturating_add(object_sizes[i]);
        assigned[target].push(i);
    }
    for list in &mut assigned {
        list.sort_unstable();
    }
    assigned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_object_goes_to_exactly_one_instance() {
        let sizes = [5, 1, 9, 3, 3, 7, 0, 2];
        let plan = distribute_objects(&sizes, 3);
        assert_eq!(plan.len(), 3);
        let mut all: Vec<usize> = plan.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..sizes.len()).collect::<Vec<_>>());
        for list in &plan {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "object order kept: {list:?}");
        }
    }

    #[test]
    fn loads_are_balanced_largest_first() {
        // 9 | 7 | 5 then 3 → instance 2 (5), 3 → instance 1 (7)... totals stay close.
        let sizes = [9, 7, 5, 3, 3];
        let plan = distribute_objects(&sizes, 3);
        let loads: Vec<u64> = plan.iter().map(|l| l.iter().map(|&i| sizes[i]).sum()).collect();
        assert_eq!(plan, vec![vec![0], vec![1, 4], vec![2, 3]]);
        assert_eq!(loads, vec![9, 10, 8]);
    }

    #[test]
    fn one_instance_or_zero_takes_everything() {
        assert_eq!(distribute_objects(&[1, 2, 3], 1), vec![vec![0, 1, 2]]);
        assert_eq!(distribute_objects(&[1, 2, 3], 0), vec![vec![0, 1, 2]]);
        assert_eq!(distribute_objects(&[], 2), vec![Vec::<usize>::new(), vec![]]);
        assert_eq!(distribute_objects(&[4], 3), vec![vec![0], vec![], vec![]]);
    }
}
