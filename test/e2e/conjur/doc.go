// Package conjur is the end-to-end test of keyward's Conjur surface: it builds the keyward binary, starts it on a temp folder and drives it with CyberArk's own Go client, conjur-api-go.
package conjur
