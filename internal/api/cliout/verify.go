package cliout

// Verify is verify's --json output.
type Verify struct {
	OK       bool            `json:"ok"`
	Checks   []VerifyCheck   `json:"checks"`
	Problems []VerifyProblem `json:"problems"`
}

// VerifyCheck is one ledger check and how many problems it found.
type VerifyCheck struct {
	Name     string `json:"name"`
	Problems int    `json:"problems"`
}

// VerifyProblem is one problem a check found.
type VerifyProblem struct {
	Check  string `json:"check"`
	Ref    string `json:"ref"`
	Detail string `json:"detail"`
}
