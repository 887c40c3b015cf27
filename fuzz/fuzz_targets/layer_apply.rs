//! Layer archives: applying any byte stream into `<tmp>/root` writes nothing
//! outside it (the only entries of `<tmp>` stay `root` and an untouched
//! sentinel file), whatever the names, links and whiteouts.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let sentinel = t.path().join("sentinel");
    std::fs::write(&sentinel, b"host").unwrap();
    for mode in [
        berth_image::WhiteoutMode::Overlay,
        berth_image::WhiteoutMode::Delete,
    ] {
        let _ = berth_image::apply_tar(&mut &data[..], &root, mode, None);
        let mut names: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["root", "sentinel"], "written outside the root");
        assert_eq!(std::fs::read(&sentinel).unwrap(), b"host");
        assert!(root.is_dir());
    }
});
