// Package archtest enforces the house rules of CONVENTIONS.md as tests: import direction, package comments and file sizes.
package archtest
