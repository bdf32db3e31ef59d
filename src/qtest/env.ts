// Whether tests that need QEMU can run here. With VSMMU_REQUIRE_QEMU=1 (CI) a missing
// QEMU is an error; otherwise such tests are skipped with a warning.

import { qemuBinary, qemuVersion } from './qtest.js';

export interface QemuAvailability {
  /** The version line, when the binary runs. */
  version?: string;
  /** Tests must run (and fail when QEMU is missing). */
  required: boolean;
  /** Why QEMU tests are skipped or fail, when they cannot run. */
  reason?: string;
}

export function qemuAvailability(): QemuAvailability {
  const required = process.env.VSMMU_REQUIRE_QEMU === '1';
  const version = qemuVersion();
  if (version) return { version, required };
  return {
    required,
    reason: `cannot run ${qemuBinary()}: install Debian's qemu-system-arm (apt-get install qemu-system-arm) or point VSMMU_QEMU at qemu-system-aarch64 7.2`,
  };
}
