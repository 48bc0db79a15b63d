package console

import "time"

var zeroTime time.Time
