"""What the peer scripts share. Importing this module pins every BLAS and OpenMP pool to one thread, so import it
before numpy or torch; blas_library() names the BLAS the process ended up using, and set_torch_single_thread()
pins torch's own pools."""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"


def blas_library():
    """Path of the BLAS shared object mapped into this process, if any."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                name = os.path.basename(path)
                if "blas" in name and ".so" in name:
                    return os.path.realpath(path)
    except OSError:
        pass
    return "unknown"


def set_torch_single_thread(torch):
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        # Can only be set once, before any inter-op parallel work started.
        pass
