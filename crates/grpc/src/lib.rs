//! placeholder
pub mod proto {
    tonic::include_proto!("nova.v1");
}
