//! Builds `ds-init` (`src/kernel/init.c`), the few-hundred-KB process a session of the namespace tier keeps
//! besides its kernel (see `kernel/python/template.py`), with the C compiler the build already uses for
//! linking. Without one the emulator still builds: the template then keeps its Python processes (more memory
//! per session, the same behaviour), and the build says so.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/kernel/init.c");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("ds-init");
    let built = cc::Build::new()
        .cargo_metadata(false)
        .try_get_compiler()
        .ok()
        .and_then(|compiler| {
            compiler.to_command().args(["-Os", "-s", "-o"]).arg(&out).arg("src/kernel/init.c").status().ok()
        })
        .is_some_and(|status| status.success());
    if !built {
        println!("cargo:warning=no C compiler built src/kernel/init.c: sessions keep Python helper processes");
        let _ = std::fs::write(&out, b"");
    }
}
