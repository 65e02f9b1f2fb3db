// Package secret holds configuration values that must never be printed,
// logged or encoded: passwords, signing secrets, private keys.
package secret
