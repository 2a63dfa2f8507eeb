//! A resumable command's checkpoint as a JSON file (`kyc reseal`, `kyc migrate keys`): read if
//! present, written aside then renamed (an interrupted save never leaves half a checkpoint),
//! removed when the run completes. Errors name the file; the caller wraps them in its own.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::ErrorKind;
use std::path::Path;

/// The checkpoint in `path`, or `None` when there is none yet.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Writes `checkpoint` to `path` atomically (a sibling `.tmp` file, then a rename).
pub fn save<T: Serialize>(path: &Path, checkpoint: &T) -> Result<(), String> {
    let text = serde_json::to_vec_pretty(checkpoint).expect("a checkpoint serialises");
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Removes the checkpoint; none there is not an error.
pub fn clear(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_round_trips_and_clearing_twice_is_fine() {
        let path = std::env::temp_dir().join(format!("kyc-checkpoint-{}.json", std::process::id()));
        assert_eq!(load::<Vec<u32>>(&path), Ok(None));
        save(&path, &vec![1u32, 2]).unwrap();
        assert!(!path.with_extension("tmp").exists(), "renamed into place");
        assert_eq!(load::<Vec<u32>>(&path), Ok(Some(vec![1, 2])));
        clear(&path).unwrap();
        clear(&path).unwrap();
        assert_eq!(load::<Vec<u32>>(&path), Ok(None));
        std::fs::write(&path, b"{not json").unwrap();
        let err = load::<Vec<u32>>(&path).unwrap_err();
        assert!(err.starts_with(&path.display().to_string()), "{err}");
        clear(&path).unwrap();
    }
}
