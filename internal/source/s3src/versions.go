package s3src

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/keyturn/keyturn/internal/source"
)

// Version is one version of an object.
type Version struct {
	ID           string    `json:"version_id"`
	LastModified time.Time `json:"last_modified"`
	Size         int64     `json:"size"`
	Latest       bool      `json:"latest"`
	DeleteMarker bool      `json:"delete_marker"`
}

// Versions lists the versions of obj, newest first. Only obj's own key is
// listed, not others that share it as a prefix.
func (s *Store) Versions(ctx context.Context, obj Object) ([]Version, error) {
	var out []Version
	in := &s3.ListObjectVersionsInput{Bucket: &obj.Bucket, Prefix: &obj.Key}
	for {
		page, err := s.S3.ListObjectVersions(ctx, in)
		if err != nil {
			return nil, awsError("list versions of "+obj.String(), err)
		}
		for _, v := range page.Versions {
			if aws.ToString(v.Key) == obj.Key {
				out = append(out, Version{ID: aws.ToString(v.VersionId), LastModified: aws.ToTime(v.LastModified),
					Size: aws.ToInt64(v.Size), Latest: aws.ToBool(v.IsLatest)})
			}
		}
		for _, d := range page.DeleteMarkers {
			if aws.ToString(d.Key) == obj.Key {
				out = append(out, Version{ID: aws.ToString(d.VersionId), LastModified: aws.ToTime(d.LastModified),
					Latest: aws.ToBool(d.IsLatest), DeleteMarker: true})
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
	}
	if len(out) == 0 {
		return nil, mark(source.ErrNotFound, fmt.Errorf("%s: no versions", obj))
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Latest != out[j].Latest {
			return out[i].Latest
		}
		return out[i].LastModified.After(out[j].LastModified)
	})
	return out, nil
}

// Changes is what differs between two versions, by variable name only.
type Changes struct {
	From, To                string // version IDs
	Added, Removed, Changed []string
}

// Diff compares two versions of obj by names: added, removed and changed
// variables, never values. to defaults to the current version and from to
// the version before to.
func (s *Store) Diff(ctx context.Context, obj Object, allow []string, from, to string) (*Changes, error) {
	if from == "" {
		vs, err := s.Versions(ctx, obj)
		if err != nil {
			return nil, err
		}
		var live []Version
		for _, v := range vs {
			if !v.DeleteMarker {
				live = append(live, v)
			}
		}
		i := 0
		if to != "" {
			i = -1
			for j, v := range live {
				if v.ID == to {
					i = j
				}
			}
			if i < 0 {
				return nil, mark(source.ErrNotFound, fmt.Errorf("%s: no version %s", obj, to))
			}
		}
		if i+1 >= len(live) {
			return nil, errors.New("there is no earlier version to compare with; give -from")
		}
		from, to = live[i+1].ID, live[i].ID
	}
	a, err := s.Read(ctx, obj, from, allow)
	if err != nil {
		return nil, err
	}
	a.raw.wipe()
	b, err := s.Read(ctx, obj, to, allow)
	if err != nil {
		return nil, err
	}
	b.raw.wipe()
	c := &Changes{From: a.VersionID, To: b.VersionID}
	for n, v := range b.Vars {
		old, ok := a.Vars[n]
		switch {
		case !ok:
			c.Added = append(c.Added, n)
		case old != v:
			c.Changed = append(c.Changed, n)
		}
	}
	for n := range a.Vars {
		if _, ok := b.Vars[n]; !ok {
			c.Removed = append(c.Removed, n)
		}
	}
	sort.Strings(c.Added)
	sort.Strings(c.Removed)
	sort.Strings(c.Changed)
	return c, nil
}

// MakeBucket creates a bucket with versioning enabled (what rollback and
// version pinning need). A bucket that exists and is ours is kept; its
// versioning is enabled.
func (s *Store) MakeBucket(ctx context.Context, bucket string) error {
	in := &s3.CreateBucketInput{Bucket: &bucket}
	if r := s.S3.Options().Region; r != "" && r != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(r)}
	}
	if _, err := s.S3.CreateBucket(ctx, in); err != nil {
		var owned *types.BucketAlreadyOwnedByYou
		if !errors.As(err, &owned) {
			return awsError("create bucket "+bucket, err)
		}
	}
	_, err := s.S3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  &bucket,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	return awsError("enable versioning on "+bucket, err)
}
