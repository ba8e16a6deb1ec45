//! The library's error type. Every variant carries the context a planning analyst needs to find the
//! problem in their data: the file, the layer, the feature id, the field.
//!
//! Exit codes follow from the kind of error: usage errors (a bad option, a preset that does not exist)
//! exit 2, data errors (a missing file, a missing field, a layer without a CRS) exit 1.

use std::path::PathBuf;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command-line or configuration value that cannot be used.
    #[error("{0}")]
    Usage(String),

    /// A dataset that GDAL cannot open.
    #[error("{dataset}: cannot open: {reason}")]
    Open { dataset: String, reason: String },

    /// A named layer that the dataset does not have.
    #[error("{dataset}: no layer named '{layer}'; layers: {available}")]
    NoLayer { dataset: String, layer: String, available: String },

    /// A dataset with several layers where the option did not say which one.
    #[error("{dataset}: has {count} layers ({available}); name one as {dataset}#LAYER")]
    AmbiguousLayer { dataset: String, count: usize, available: String },

    /// A field that the layer does not have.
    #[error("{layer}: no field '{field}' (for {role}); fields: {available}")]
    MissingField { layer: String, field: String, role: String, available: String },

    /// A layer whose geometry type does not fit its role (points given as roads, ...).
    #[error("{layer}: {role} must be {expected} geometries, but the layer holds {found}")]
    WrongGeometry { layer: String, role: String, expected: String, found: String },

    /// A layer without any coordinate reference system and no override.
    #[error("{layer}: the layer has no coordinate reference system; give one with {option} (an EPSG code such as EPSG:4527, or gcj02 / bd09)")]
    NoCrs { layer: String, option: String },

    /// A layer in a local engineering CRS (a city's own grid, a GeoPackage's undefined Cartesian
    /// SRS): its coordinates cannot be placed on the earth without the CRS they really are in.
    #[error("{layer}: the layer's coordinate system '{name}' is a local grid, not tied to the earth; give the CRS its coordinates are really in with {option} (an EPSG code such as EPSG:4527, or gcj02 / bd09)")]
    LocalCrs { layer: String, name: String, option: String },

    /// A CRS definition that PROJ cannot use, or a transformation that failed.
    #[error("coordinate system: {0}")]
    Crs(String),

    /// A layer with no usable feature at all.
    #[error("{layer}: {reason}")]
    EmptyLayer { layer: String, reason: String },

    /// A layer that GDAL opened but could not read to its end (a truncated or corrupt file).
    #[error("{layer}: cannot read the layer: {reason}; nothing was computed")]
    Read { layer: String, reason: String },

    /// One feature that cannot be used where skipping it is not allowed.
    #[error("{layer}: feature {fid}: field '{field}': {reason}")]
    BadFeature { layer: String, fid: u64, field: String, reason: String },

    /// An OGR attribute filter that GDAL rejected.
    #[error("{layer}: attribute filter \"{filter}\" rejected: {reason}")]
    BadFilter { layer: String, filter: String, reason: String },

    /// A lookup table (grades, classes, facility types) that cannot be read.
    #[error("table {name}: {reason}")]
    Table { name: String, reason: String },

    /// A run that stopped after writing some of its outputs: which ones, so that none is taken for
    /// part of a complete run.
    #[error(
        "{source}; before it stopped, this run {}its other outputs were not written",
        partial_account(written, removed)
    )]
    Partial { source: Box<Error>, written: Vec<String>, removed: Vec<String> },

    /// Another error in other words (a city file's keys for the command-line options it names),
    /// with that error's exit code.
    #[error("{message}")]
    Worded { source: Box<Error>, message: String },

    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    /// A part of the run stopped by panicking: a bug in planaudit, not in the data or the command.
    #[error("{0} stopped unexpectedly: an internal error (a bug in planaudit; please report it)")]
    Internal(String),

    /// Any other GDAL failure, with what was being done.
    #[error("{context}: {source}")]
    Gdal { context: String, source: gdal::errors::GdalError },
}

impl Error {
    /// The process exit code for this error: 2 for usage errors, 101 for an internal error (as
    /// for a panic anywhere else), 1 for data errors.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            Error::Internal(_) => 101,
            Error::Partial { source, .. } | Error::Worded { source, .. } => source.exit_code(),
            _ => 1,
        }
    }

    /// Shorthand for an I/O error on a path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

/// What a run that stopped part-way had written and removed, for [`Error::Partial`].
fn partial_account(written: &[String], removed: &[String]) -> String {
    let mut account = String::new();
    if !written.is_empty() {
        account.push_str(&format!("wrote {}; ", written.join(", ")));
    }
    if !removed.is_empty() {
        account.push_str(&format!("removed the earlier audit's {}; ", removed.join(", ")));
    }
    account
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_tell_usage_data_and_internal_errors_apart() {
        assert_eq!(Error::Usage("--grid-m: not a number".into()).exit_code(), 2);
        assert_eq!(
            Error::EmptyLayer { layer: "a.gpkg#roads".into(), reason: "the layer is empty".into() }.exit_code(),
            1
        );
        let bug = Error::Internal("road network density".into());
        assert_eq!(bug.exit_code(), 101);
        assert!(bug.to_string().starts_with("road network density stopped unexpectedly"), "{bug}");
        let partial = Error::Partial { source: Box::new(bug), written: vec!["a.geojson".into()], removed: vec![] };
        assert_eq!(partial.exit_code(), 101);
    }
}
