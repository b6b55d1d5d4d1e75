// Package pairbench measures an operation against its reference in one
// benchmark loop, for the project's ratio benchmarks (docs/benchmarks.md).
//
// A ratio is only as good as the moment both of its sides were measured
// in: on a shared machine whose speed changes from one minute to the next,
// two benchmarks run minutes apart measure two different machines. So
// Alternate runs the operation and its reference once each per iteration,
// swapping their order every iteration, and times every call separately.
package pairbench
