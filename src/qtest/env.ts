// Whether tests that need QEMU can run here. With VSMMU_REQUIRE_QEMU=1 (CI) a missing
// QEMU is an error; otherwise such tests are skipped with a warning.

import { qemuVersion } from './qtest.js';
import { QEMU72, targetBinary, type QemuTarget } from './target.js';

export interface QemuAvailability {
  /** The version line, when the binary runs. */
  version?: string;
  /** Tests must run (and fail when QEMU is missing). */
  required: boolean;
  /** Why QEMU tests are skipped or fail, when they cannot run. */
  reason?: string;
}

/** Whether the QEMU of `target` (QEMU 7.2 by default) runs here. */
export function qemuAvailability(target: QemuTarget = QEMU72): QemuAvailability {
  const required = process.env.VSMMU_REQUIRE_QEMU === '1';
  const binary = targetBinary(target);
  const version = qemuVersion(binary);
  if (version) return { version, required };
  return {
    required,
    reason: target.profile === 'qemu-10.0'
      ? `cannot run ${binary}: run scripts/install-qemu10.sh (QEMU 10.0.2 from bookworm-backports) or point VSMMU_QEMU10_DIR at its folder`
      : `cannot run ${binary}: install Debian's qemu-system-arm (apt-get install qemu-system-arm) or point VSMMU_QEMU at qemu-system-aarch64 7.2`,
  };
}
