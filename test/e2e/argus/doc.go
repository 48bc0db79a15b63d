// Package argus is the end-to-end test of keyward's Argus surface: it builds the keyward binary, starts it on a temp folder and drives /authentication/v1 with raw HTTP and the pkg/argussig signer, as Argus's (Python) clients would.
package argus
