// Package privx is the end-to-end test of keyward's PrivX role-store surface: it builds the keyward binary, starts it on a temp folder and drives it with SSH's own Go SDK, github.com/SSHcom/privx-sdk-go/v2 v2.44.0, plus raw HTTP for what the SDK cannot see.
package privx
