//! Default thread count: the physical cores.
//!
//! Decoding is memory-bound and hyper-threads share a core's caches and load ports, so
//! llama.cpp runs best with one thread per physical core.

use std::collections::HashSet;

/// Number of physical cores, from `/proc/cpuinfo` where it says, else the logical CPUs.
pub fn physical_cores() -> usize {
    let logical = std::thread::available_parallelism().map_or(1, usize::from);
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| count_physical(&text))
        .map_or(logical, |physical| physical.clamp(1, logical))
}

fn count_physical(cpuinfo: &str) -> Option<usize> {
    let mut cores = HashSet::new();
    let mut physical_id = None;
    for line in cpuinfo.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "physical id" => physical_id = Some(value.trim().to_string()),
            "core id" => {
                cores.insert((physical_id.clone()?, value.trim().to_string()));
            }
            _ => {}
        }
    }
    (!cores.is_empty()).then_some(cores.len())
}

#[cfg(test)]
mod tests {
    use super::count_physical;

    #[test]
    fn hyperthreads_count_once() {
        let info = "processor: 0\nphysical id: 0\ncore id: 0\n\nprocessor: 1\nphysical id: 0\ncore id: 0\n\n\
                    processor: 2\nphysical id: 0\ncore id: 1\n\nprocessor: 3\nphysical id: 1\ncore id: 0\n";
        assert_eq!(count_physical(info), Some(3));
        assert_eq!(count_physical("processor: 0\n"), None);
    }
}
