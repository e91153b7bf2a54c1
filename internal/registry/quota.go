package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/meso-project/meso/api/v1/mesospb"
	"github.com/meso-project/meso/api/v1/quotapb"
	"github.com/meso-project/meso/pkg/resources"
)

// validateQuotaConfig is Mesos's quota::validate(QuotaConfig), the sanity
// check UpdateQuota makes before storing (the master validates requests
// before it gets here): a valid role; no guarantee or limit above 1 exabyte
// of mem or disk (in MB) or 1 trillion of anything else; only finite,
// non-negative, normal (or zero) values; every guarantee within its limit.
func validateQuotaConfig(c *quotapb.QuotaConfig) error {
	if c == nil || c.Role == nil {
		return errors.New("'QuotaConfig.role' must be set")
	}
	if err := resources.ValidateRole(c.GetRole()); err != nil {
		return fmt.Errorf("Invalid 'QuotaConfig.role': %v", err)
	}
	const exabyteInMegabytes = 1024 * 1024 * 1024 * 1024
	const otherLimit = 1000 * 1000 * 1000 * 1000
	tooLarge := func(m map[string]*mesospb.Value_Scalar) error {
		for _, name := range sortedKeys(m) {
			v := m[name].GetValue()
			if name == "mem" || name == "disk" {
				if v > exabyteInMegabytes {
					return fmt.Errorf("{'%s': %s} is invalid: values greater than 1 exabyte (%d) are not supported",
						name, formatScalar(v), int64(exabyteInMegabytes))
				}
			} else if v > otherLimit {
				return fmt.Errorf("{'%s': %s} is invalid: values greater than 1 trillion (%d) are not supported",
					name, formatScalar(v), int64(otherLimit))
			}
		}
		return nil
	}
	if err := tooLarge(c.GetGuarantees()); err != nil {
		return fmt.Errorf("Invalid 'QuotaConfig.guarantees': %v", err)
	}
	if err := tooLarge(c.GetLimits()); err != nil {
		return fmt.Errorf("Invalid 'QuotaConfig.limits': %v", err)
	}
	for _, name := range sortedKeys(c.GetGuarantees()) {
		v := c.GetGuarantees()[name].GetValue()
		if err := validateScalar(v); err != nil {
			return fmt.Errorf("Invalid guarantee configuration {'%s': %s}: %v", name, formatScalar(v), err)
		}
	}
	for _, name := range sortedKeys(c.GetLimits()) {
		v := c.GetLimits()[name].GetValue()
		if err := validateScalar(v); err != nil {
			return fmt.Errorf("Invalid limit configuration {'%s': %s}: %v", name, formatScalar(v), err)
		}
	}
	for name, g := range c.GetGuarantees() {
		if l, ok := c.GetLimits()[name]; ok && fixed(l.GetValue()) < fixed(g.GetValue()) {
			return fmt.Errorf("'QuotaConfig.guarantees' %s is not contained within the 'QuotaConfig.limits' %s",
				formatScalarMap(c.GetGuarantees()), formatScalarMap(c.GetLimits()))
		}
	}
	return nil
}

// validateScalar is Mesos's common::validation::validateInputScalarValue.
func validateScalar(v float64) error {
	switch {
	case math.IsInf(v, 0):
		return errors.New("Infinite values not supported")
	case math.IsNaN(v):
		return errors.New("NaN not supported")
	case v == 0:
		return nil
	case math.Abs(v) < 0x1p-1022:
		return errors.New("Subnormal values not supported")
	case v < 0:
		return errors.New("Negative values not supported")
	}
	return nil
}

// fixed is the fixed-point form (three decimals) in which Mesos compares
// scalar values.
func fixed(v float64) int64 { return int64(math.Round(v * 1000)) }

// isDefaultQuota reports whether c is Mesos's DEFAULT_QUOTA: no guarantee
// above zero (zero guarantees are dropped) and no limits.
func isDefaultQuota(c *quotapb.QuotaConfig) bool {
	for _, g := range c.GetGuarantees() {
		if fixed(g.GetValue()) != 0 {
			return false
		}
	}
	return len(c.GetLimits()) == 0
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// formatScalar prints a value as Mesos streams a double (15 significant
// digits): 1, 0.5, 1e+20.
func formatScalar(v float64) string { return strconv.FormatFloat(v, 'g', 15, 64) }

// formatScalarMap prints guarantees or limits as stout prints a map:
// "{ cpus: 1, mem: 512 }".
func formatScalarMap(m map[string]*mesospb.Value_Scalar) string {
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+": "+formatScalar(m[k].GetValue()))
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

// quotaConfigJSON renders a config the way Mesos's JSON of it reads:
// {"role":"eng","guarantees":{"cpus":{"value":1}},"limits":{...}}.
func quotaConfigJSON(c *quotapb.QuotaConfig) string {
	type scalar struct {
		Value float64 `json:"value"`
	}
	scalars := func(m map[string]*mesospb.Value_Scalar) map[string]scalar {
		if len(m) == 0 {
			return nil
		}
		out := make(map[string]scalar, len(m))
		for k, v := range m {
			out[k] = scalar{Value: v.GetValue()}
		}
		return out
	}
	var v struct {
		Role       *string           `json:"role,omitempty"`
		Guarantees map[string]scalar `json:"guarantees,omitempty"`
		Limits     map[string]scalar `json:"limits,omitempty"`
	}
	if c != nil {
		v.Role, v.Guarantees, v.Limits = c.Role, scalars(c.GetGuarantees()), scalars(c.GetLimits())
	}
	b, err := json.Marshal(v)
	if err != nil { // NaN and infinities have no JSON form
		return fmt.Sprintf("role=%q guarantees=%s limits=%s", c.GetRole(),
			formatScalarMap(c.GetGuarantees()), formatScalarMap(c.GetLimits()))
	}
	return string(b)
}
