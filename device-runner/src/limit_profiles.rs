//! Phone GPU limit profiles: the compute limits real mobile GPUs' Vulkan drivers report,
//! far below a desktop's or lavapipe's in places (workgroup invocations, workgroup
//! memory, storage buffers per stage, binding sizes, push constants). `device-runner
//! --limits PROFILE` opens this machine's adapter with exactly those limits (each capped
//! at what the adapter itself offers), so the driver enforces them and a kernel or
//! autotuner candidate that would not fit the phone fails, or is not offered, here.
//!
//! The figures are read from the open-source Vulkan drivers in Mesa, whose limits are set
//! from the hardware: turnip (Adreno), panvk (Mali), pvr (PowerVR) and, for Samsung's
//! Xclipse (AMD RDNA2/3 under Samsung's closed driver), RADV's RDNA figures. Each row
//! cites the file, line and commit (Mesa 24.3.3: `ac434a4ff19a3d00b3ad63615a6fd5cd051e78a4`)
//! its values come from. A vendor's closed driver may report other values for the same
//! part; where the profile had to choose, it takes the lower.
//!
//! `max_buffer_size` is not a Vulkan limit (it bounds an allocation): each profile sets it
//! to the storage range, since every buffer the kernels use is bound whole as storage.

use serde::Serialize;

use crate::backend::AdapterLimits;

/// One phone GPU family's compute limits.
#[derive(Clone, Debug, Serialize)]
pub struct LimitProfile {
    /// What `--limits` takes.
    pub name: &'static str,
    /// The GPUs it stands for.
    pub gpus: &'static str,
    /// Substrings of the adapter names those GPUs report (`moga doctor` matches them).
    pub adapter_names: &'static [&'static str],
    /// Where the figures come from.
    pub source: &'static str,
    /// Subgroup (wave) sizes the GPUs run compute at, least and most: they decide how
    /// a kernel's workgroup maps to the hardware, but wgpu cannot request them, so they
    /// are information, not enforced.
    pub subgroup_sizes: [u32; 2],
    /// The limits, as wgpu names them.
    pub limits: AdapterLimits,
}

const MIB_128: u64 = 1 << 27;
const U32_MAX: u64 = u32::MAX as u64;

/// The profiles, by name.
pub static PROFILES: [LimitProfile; 6] = [
    LimitProfile {
        name: "adreno-6xx-7xx",
        gpus: "Adreno 615-690 and 725-750 (Snapdragon 670 to 8 Gen 3)",
        adapter_names: &["Adreno (TM) 6", "Adreno (TM) 7", "Adreno 6", "Adreno 7"],
        // src/freedreno/vulkan/tu_device.cc L910-924 and L955-964 (limits), L833-836
        // (subgroups); tu_common.h L91 (push constants 256), L112 (storage range 1<<27),
        // L118 (uniform range 0x10000); tu_descriptor_set.h L27 (descriptors per set);
        // src/freedreno/common/freedreno_devices.py L138 and L330-338 (threadsize 64,
        // doubled: invocations 64·2·16 = 2048), L665/L732/L1061 (A650/A660/A730: 32 KiB
        // of workgroup memory).
        source: "Mesa turnip (tu_device.cc, freedreno_devices.py), 24.3.3",
        subgroup_sizes: [64, 128],
        limits: AdapterLimits {
            max_buffer_size: MIB_128,
            max_storage_buffer_binding_size: MIB_128,
            max_storage_buffers_per_shader_stage: 1 << 24,
            max_compute_invocations_per_workgroup: 2048,
            max_compute_workgroup_size_x: 1024,
            max_compute_workgroup_size_y: 1024,
            max_compute_workgroup_size_z: 1024,
            max_compute_workgroup_storage_size: 32768,
            max_compute_workgroups_per_dimension: 65535,
            max_uniform_buffer_binding_size: 65536,
            max_immediate_size: 256,
        },
    },
    LimitProfile {
        name: "adreno-605-612",
        gpus: "Adreno 605-612 (Snapdragon 660, 665, 680: low-end)",
        adapter_names: &[
            "Adreno (TM) 605",
            "Adreno (TM) 608",
            "Adreno (TM) 610",
            "Adreno (TM) 612",
        ],
        // As adreno-6xx-7xx; freedreno_devices.py L362 and L447: no doubled threadsize
        // (invocations 64·16 = 1024), 16 KiB of workgroup memory, subgroups of 64.
        source: "Mesa turnip (tu_device.cc, freedreno_devices.py), 24.3.3",
        subgroup_sizes: [64, 64],
        limits: AdapterLimits {
            max_buffer_size: MIB_128,
            max_storage_buffer_binding_size: MIB_128,
            max_storage_buffers_per_shader_stage: 1 << 24,
            max_compute_invocations_per_workgroup: 1024,
            max_compute_workgroup_size_x: 1024,
            max_compute_workgroup_size_y: 1024,
            max_compute_workgroup_size_z: 1024,
            max_compute_workgroup_storage_size: 16384,
            max_compute_workgroups_per_dimension: 65535,
            max_uniform_buffer_binding_size: 65536,
            max_immediate_size: 256,
        },
    },
    LimitProfile {
        name: "mali-valhall",
        gpus: "Mali-G57, G68, G77, G78, G610, G710, G715 (Valhall)",
        adapter_names: &[
            "Mali-G57",
            "Mali-G68",
            "Mali-G77",
            "Mali-G78",
            "Mali-G610",
            "Mali-G615",
            "Mali-G710",
            "Mali-G715",
        ],
        // src/panfrost/vulkan/panvk_physical_device.c L423 (uniform range 1 MiB), L428
        // (storage range 2^32-1), L432 (push constants 128), L487 (storage buffers per
        // stage 64), L536 (workgroup memory 32 KiB), L540 (65535 workgroups); the
        // workgroup size is the GPU's register, or src/panfrost/lib/kmod/panfrost_kmod.c
        // L123's fallback for v9 (512) where it reads 0; subgroups: pan_ir.h L402-412
        // (16 from v9).
        source: "Mesa panvk (panvk_physical_device.c, panfrost_kmod.c, pan_ir.h), 24.3.3",
        subgroup_sizes: [16, 16],
        limits: AdapterLimits {
            max_buffer_size: U32_MAX,
            max_storage_buffer_binding_size: U32_MAX,
            max_storage_buffers_per_shader_stage: 64,
            max_compute_invocations_per_workgroup: 512,
            max_compute_workgroup_size_x: 512,
            max_compute_workgroup_size_y: 512,
            max_compute_workgroup_size_z: 512,
            max_compute_workgroup_storage_size: 32768,
            max_compute_workgroups_per_dimension: 65535,
            max_uniform_buffer_binding_size: 1 << 20,
            max_immediate_size: 128,
        },
    },
    LimitProfile {
        name: "mali-bifrost",
        gpus: "Mali-G31, G51, G52, G71, G72, G76 (Bifrost)",
        adapter_names: &[
            "Mali-G31", "Mali-G51", "Mali-G52", "Mali-G71", "Mali-G72", "Mali-G76",
        ],
        // As mali-valhall, but panfrost_kmod.c L113 (v6: 384 invocations, the lower of
        // v6's 384 and v7's 768) and pan_ir.h L402-412 (subgroups of 4 on v6, 8 on v7).
        source: "Mesa panvk (panvk_physical_device.c, panfrost_kmod.c, pan_ir.h), 24.3.3",
        subgroup_sizes: [4, 8],
        limits: AdapterLimits {
            max_buffer_size: U32_MAX,
            max_storage_buffer_binding_size: U32_MAX,
            max_storage_buffers_per_shader_stage: 64,
            max_compute_invocations_per_workgroup: 384,
            max_compute_workgroup_size_x: 384,
            max_compute_workgroup_size_y: 384,
            max_compute_workgroup_size_z: 384,
            max_compute_workgroup_storage_size: 32768,
            max_compute_workgroups_per_dimension: 65535,
            max_uniform_buffer_binding_size: 1 << 20,
            max_immediate_size: 128,
        },
    },
    LimitProfile {
        name: "xclipse",
        gpus: "Samsung Xclipse 920, 930, 940 (AMD RDNA2/RDNA3)",
        adapter_names: &["Xclipse"],
        // RADV's figures for RDNA (Samsung's driver is closed):
        // src/amd/vulkan/radv_physical_device.c L1384-1386 (uniform and storage ranges
        // 2^32-1, push constants 256), L1394 (8388606 storage buffers per stage),
        // L1429-1432 (64 KiB of workgroup memory, 1024 invocations and workgroup size),
        // L1612-1619 (wave32 and wave64).
        source: "Mesa RADV (radv_physical_device.c) for RDNA, 24.3.3",
        subgroup_sizes: [32, 64],
        limits: AdapterLimits {
            max_buffer_size: U32_MAX,
            max_storage_buffer_binding_size: U32_MAX,
            max_storage_buffers_per_shader_stage: 8_388_606,
            max_compute_invocations_per_workgroup: 1024,
            max_compute_workgroup_size_x: 1024,
            max_compute_workgroup_size_y: 1024,
            max_compute_workgroup_size_z: 1024,
            max_compute_workgroup_storage_size: 65536,
            max_compute_workgroups_per_dimension: 65535,
            max_uniform_buffer_binding_size: U32_MAX,
            max_immediate_size: 256,
        },
    },
    LimitProfile {
        name: "powervr-rogue",
        gpus: "PowerVR Rogue: GE8320, BXM-8-256, BXS (MediaTek Helio, Dimensity 700)",
        adapter_names: &["PowerVR"],
        // src/imagination/vulkan/pvr_device.c L458-459 (uniform and storage ranges 128
        // MiB), L525 (16 KiB of workgroup memory), L432-439 and L527-530 (384
        // invocations where the core has fewer than 512 slots, the lower choice; size
        // {inv, inv, 64}), L349-375 (storage buffers per stage by shared registers: 28,
        // the lowest row); pvr_limits.h L40 (push constants 256); subgroups of 1 (the
        // newest pvr_physical_device.c, 10ba7675c8b969389d9e76710658c83c917cbeee).
        source: "Mesa pvr (pvr_device.c, pvr_limits.h), 24.3.3",
        subgroup_sizes: [1, 1],
        limits: AdapterLimits {
            max_buffer_size: MIB_128,
            max_storage_buffer_binding_size: MIB_128,
            max_storage_buffers_per_shader_stage: 28,
            max_compute_invocations_per_workgroup: 384,
            max_compute_workgroup_size_x: 384,
            max_compute_workgroup_size_y: 384,
            max_compute_workgroup_size_z: 64,
            max_compute_workgroup_storage_size: 16384,
            max_compute_workgroups_per_dimension: 65535,
            max_uniform_buffer_binding_size: MIB_128,
            max_immediate_size: 256,
        },
    },
];

/// The profile called `name`, or an error listing the names there are.
pub fn find(name: &str) -> Result<&'static LimitProfile, String> {
    PROFILES.iter().find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<&str> = PROFILES.iter().map(|p| p.name).collect();
        format!("no limit profile '{name}' (known: {})", names.join(", "))
    })
}

/// The profile whose GPUs report an adapter name like `adapter`, if any.
pub fn matching(adapter: &str) -> Option<&'static LimitProfile> {
    // The most specific first: "Adreno (TM) 610" is adreno-605-612's, not the family's.
    PROFILES
        .iter()
        .flat_map(|p| p.adapter_names.iter().map(move |n| (p, *n)))
        .filter(|(_, n)| adapter.contains(n))
        .max_by_key(|(_, n)| n.len())
        .map(|(p, _)| p)
}

/// `profile` capped at what `offered` (this machine's adapter) has, field by field: the
/// limits a device opened "with the profile" here can enforce. The second value lists
/// the capped fields as (name, profile's, adapter's).
pub fn capped(
    profile: &AdapterLimits,
    offered: &AdapterLimits,
) -> (AdapterLimits, Vec<(&'static str, u64, u64)>) {
    let above = profile.above(offered);
    let min64 = |a: u64, b: u64| a.min(b);
    let min32 = |a: u32, b: u32| a.min(b);
    let limits = AdapterLimits {
        max_buffer_size: min64(profile.max_buffer_size, offered.max_buffer_size),
        max_storage_buffer_binding_size: min64(
            profile.max_storage_buffer_binding_size,
            offered.max_storage_buffer_binding_size,
        ),
        max_storage_buffers_per_shader_stage: min32(
            profile.max_storage_buffers_per_shader_stage,
            offered.max_storage_buffers_per_shader_stage,
        ),
        max_compute_invocations_per_workgroup: min32(
            profile.max_compute_invocations_per_workgroup,
            offered.max_compute_invocations_per_workgroup,
        ),
        max_compute_workgroup_size_x: min32(
            profile.max_compute_workgroup_size_x,
            offered.max_compute_workgroup_size_x,
        ),
        max_compute_workgroup_size_y: min32(
            profile.max_compute_workgroup_size_y,
            offered.max_compute_workgroup_size_y,
        ),
        max_compute_workgroup_size_z: min32(
            profile.max_compute_workgroup_size_z,
            offered.max_compute_workgroup_size_z,
        ),
        max_compute_workgroup_storage_size: min32(
            profile.max_compute_workgroup_storage_size,
            offered.max_compute_workgroup_storage_size,
        ),
        max_compute_workgroups_per_dimension: min32(
            profile.max_compute_workgroups_per_dimension,
            offered.max_compute_workgroups_per_dimension,
        ),
        max_uniform_buffer_binding_size: min64(
            profile.max_uniform_buffer_binding_size,
            offered.max_uniform_buffer_binding_size,
        ),
        max_immediate_size: min32(profile.max_immediate_size, offered.max_immediate_size),
    };
    (limits, above)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_meets_vulkans_required_minimums_and_names_itself_once() {
        // Vulkan 1.x's required limits (the spec's "Required Limits" table): a driver
        // reporting less is not conformant, so a profile below them is a typo.
        for p in &PROFILES {
            let l = &p.limits;
            assert!(l.max_compute_invocations_per_workgroup >= 128, "{}", p.name);
            assert!(l.max_compute_workgroup_size_x >= 128, "{}", p.name);
            assert!(l.max_compute_workgroup_size_y >= 128, "{}", p.name);
            assert!(l.max_compute_workgroup_size_z >= 64, "{}", p.name);
            assert!(l.max_compute_workgroup_storage_size >= 16384, "{}", p.name);
            assert!(
                l.max_compute_workgroups_per_dimension >= 65535,
                "{}",
                p.name
            );
            assert!(l.max_storage_buffers_per_shader_stage >= 4, "{}", p.name);
            assert!(l.max_storage_buffer_binding_size >= 1 << 27, "{}", p.name);
            assert!(l.max_uniform_buffer_binding_size >= 16384, "{}", p.name);
            assert!(l.max_immediate_size >= 128, "{}", p.name);
            assert!(
                l.max_compute_invocations_per_workgroup
                    <= l.max_compute_workgroup_size_x
                        * l.max_compute_workgroup_size_y
                        * l.max_compute_workgroup_size_z,
                "{}",
                p.name
            );
            assert!(p.subgroup_sizes[0] <= p.subgroup_sizes[1], "{}", p.name);
            assert_eq!(find(p.name).unwrap().name, p.name);
        }
        let err = find("adreno-999").unwrap_err();
        assert!(
            err.contains("adreno-999") && err.contains("mali-valhall"),
            "{err}"
        );
    }

    #[test]
    fn adapters_match_their_family_and_the_most_specific_row() {
        let name = |a: &str| matching(a).map(|p| p.name);
        assert_eq!(name("Adreno (TM) 740"), Some("adreno-6xx-7xx"));
        assert_eq!(name("Adreno (TM) 610"), Some("adreno-605-612"));
        assert_eq!(name("Mali-G78 MC24"), Some("mali-valhall"));
        assert_eq!(name("Mali-G76 MC4"), Some("mali-bifrost"));
        assert_eq!(name("Mali-G710 MC10"), Some("mali-valhall"));
        assert_eq!(name("Samsung Xclipse 920"), Some("xclipse"));
        assert_eq!(name("PowerVR Rogue GE8320"), Some("powervr-rogue"));
        assert_eq!(name("llvmpipe (LLVM 15.0.6, 256 bits)"), None);
    }

    #[test]
    fn capping_keeps_the_lower_of_profile_and_adapter_and_says_which() {
        let p = &find("adreno-6xx-7xx").unwrap().limits;
        let mut offered = p.clone();
        offered.max_compute_invocations_per_workgroup = 1024;
        offered.max_compute_workgroup_storage_size = 65536;
        let (l, capped_fields) = capped(p, &offered);
        assert_eq!(l.max_compute_invocations_per_workgroup, 1024);
        assert_eq!(l.max_compute_workgroup_storage_size, 32768);
        assert_eq!(
            capped_fields,
            [("max_compute_invocations_per_workgroup", 2048, 1024)]
        );
    }
}
