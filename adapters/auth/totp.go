package auth

import (
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP per RFC 6238 with the parameters every authenticator app supports.
const (
	totpPeriod = 30
	totpSkew   = 1 // one step either side, for clock drift
	totpDigits = otp.DigitsSix
)

// NewTOTP returns a new secret and the otpauth:// URL an authenticator app
// enrols from.
func NewTOTP(username string) (secret, url string, err error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: "ContactPoint", AccountName: username,
		Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", fmt.Errorf("new TOTP secret: %w", err)
	}
	return k.Secret(), k.URL(), nil
}

// TOTPCode returns the code for secret at t; demos and tests use it.
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
}

// checkTOTP returns the time step code matches at now, trying the steps
// within the allowed skew, or 0 when it matches none. Callers refuse a step
// not later than the last one used, so a code cannot be replayed.
func checkTOTP(secret, code string, now time.Time) int64 {
	if len(code) != 6 {
		return 0
	}
	for d := -totpSkew; d <= totpSkew; d++ {
		t := now.Add(time.Duration(d*totpPeriod) * time.Second)
		want, err := TOTPCode(secret, t)
		if err != nil {
			return 0
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return t.Unix() / totpPeriod
		}
	}
	return 0
}
